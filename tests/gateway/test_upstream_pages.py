"""An upstream that answers with a web page or plain text (a proxy's error page) is named as such.

Before the fix a proxy's HTML page answering a streamed request with status 200 reached the client
as "the stream ended before its first chunk", and a text/plain one too: what came was dropped. With
an error status (a 502, or a 413 relayed as the client's own), the client was given the page's
first 300 or 500 bytes of markup. And a page answering a plain request was "the reply is not JSON".
Now each says what came (an HTML page, or the body's content type) with a short, one-line
excerpt: the page's title, or the text's first words.
"""

from __future__ import annotations

import pytest

from tests.fakes.llm_server import Reply, Script
from tests.gateway.conftest import GatewayFactory, target

ASK = [{"role": "user", "content": "Which music do I like?"}]
PAGE = (
    "<!DOCTYPE html>\n<html>\n<head><meta charset='utf-8'>\n"
    "<title>\n  502 Bad Gateway &amp;\x1b[0m  nginx </title></head>\n"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx/1.25.3</center></body>\n</html>\n"
)
TITLE = '"502 Bad Gateway & [0m nginx"'  # entities decoded, control characters and line breaks gone


def _page(status: int, page: str = PAGE, content_type: str = "text/html; charset=utf-8") -> Reply:
    return Reply(status=status, raw=page, headers={"content-type": content_type})


def _ask(gateway: GatewayFactory, fake_llm: Script, stream: bool) -> tuple[int, str]:
    """One chat call (streamed or not): its status and its error's message."""
    with gateway([[target(fake_llm, "m1")]]) as gw, gw.http() as http:
        body = {"model": "m1", "user": "ana", "messages": ASK, "stream": stream}
        r = http.post("/v1/chat/completions", json=body)
    error = r.json()["error"]
    assert all(f["error"] in error["message"] for f in error.get("failures", ())), error
    return r.status_code, str(error["message"])


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "plain"])
@pytest.mark.parametrize("status", [200, 502])
def test_an_html_page_is_named_with_its_title(
    gateway: GatewayFactory, fake_llm: Script, stream: bool, status: int
) -> None:
    fake_llm.push(_page(status), times=4)
    code, message = _ask(gateway, fake_llm, stream)
    assert code == 503
    assert "<" not in message and "first chunk" not in message, message
    if stream and status == 200:
        assert (
            f"an HTML page (text/html) answered a streamed request, not an event stream: {TITLE}" in message
        )
    elif status == 200:
        assert f"the reply is not JSON but an HTML page (text/html): {TITLE}" in message
    else:
        assert f"HTTP 502: an HTML page (text/html): {TITLE}" in message


def test_a_page_without_a_title_is_quoted_by_its_first_words(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    page = (
        "<html><head><style>h1 {color: red}</style></head><body><h1>Service   Unavailable</h1></body></html>"
    )
    fake_llm.push(_page(200, page, content_type="text/html"), times=4)
    code, message = _ask(gateway, fake_llm, True)
    assert (
        code == 503
        and 'an HTML page (text/html) answered a streamed request, not an event stream: "Service Unavailable"'
        in message
    ), message


def test_a_plain_text_body_answering_a_stream_is_quoted(gateway: GatewayFactory, fake_llm: Script) -> None:
    text = "upstream connect error or disconnect/reset before headers.\r\nreset reason: overflow"
    fake_llm.push(Reply(raw=text), times=8)  # text/plain, status 200
    code, message = _ask(gateway, fake_llm, True)
    assert code == 503
    expected = '"upstream connect error or disconnect/reset before headers. reset reason: overflow"'
    assert f"a text/plain body answered a streamed request, not an event stream: {expected}" in message
    code, message = _ask(gateway, fake_llm, False)
    assert code == 503 and f"the reply is not JSON but a text/plain body: {expected}" in message, message


def test_a_page_refusing_the_request_is_relayed_by_its_title(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    # A proxy's 413 (a request body over its limit) is the client's to hear: not as raw markup.
    page = "<html><head><title>413 Request Entity Too Large</title></head><body>nginx</body></html>"
    fake_llm.push(_page(413, page))
    code, message = _ask(gateway, fake_llm, True)
    assert (code, message) == (413, 'an HTML page (text/html): "413 Request Entity Too Large"')


def test_a_404_page_keeps_its_hint(gateway: GatewayFactory, fake_llm: Script) -> None:
    page = "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"
    fake_llm.push(_page(404, page), times=4)
    code, message = _ask(gateway, fake_llm, False)
    assert code == 502
    assert 'HTTP 404 (check model and base_url): an HTML page (text/html): "404 Not Found"' in message, (
        message
    )


def test_a_long_title_is_cut_and_the_upstream_key_is_not_quoted(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    page = f"<html><title>bad key sk-up-m1 {'x' * 400}</title></html>"
    fake_llm.push(_page(200, page), times=4)
    code, message = _ask(gateway, fake_llm, True)
    assert code == 503 and "sk-up-m1" not in message
    quoted = message.split("not an event stream: ", 1)[1].split('"')[1]
    assert quoted.startswith("bad key ***") and quoted.endswith("…") and len(quoted) <= 160, quoted


def test_an_event_stream_labelled_json_is_judged_by_its_events(
    gateway: GatewayFactory, fake_llm: Script
) -> None:
    # A server that labels its event stream application/json and has nothing to say: what came
    # was events (nothing of them is kept to judge the body by), not a JSON document.
    fake_llm.push(Reply(raw="data: [DONE]\n\n", headers={"content-type": "application/json"}), times=4)
    code, message = _ask(gateway, fake_llm, True)
    assert code == 503
    assert "the stream ended before its first chunk" in message and "JSON body" not in message, message
