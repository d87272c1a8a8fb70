"""A real local HTTP server that speaks OpenAI's chat-completions protocol, and Anthropic's
Messages API, scripted.

Tests point a model step at it (``base_url`` for ``openai:`` models, ``anthropic_url`` for
``anthropic:`` ones) instead of a hosted model. Each request takes the
next scripted :class:`Reply`: a structured output (a call of the request's output tool with the
given arguments), a call of a named tool, plain text, or an HTTP error such as 429 with
``Retry-After``. Every request
body is kept in :attr:`FakeOpenAI.requests`, so a test can inspect exactly what reached the
model.

    with FakeOpenAI([Reply.output({"outcome": "refund"})]) as server:
        ...  # OpenAIProvider(base_url=server.base_url, api_key="test")
        assert "customer_email" not in server.prompts()[0]
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from agentflow.testing.local_server import LocalServer


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int = 200
    arguments: dict[str, Any] | None = None  # the called tool's arguments
    #: The tool it calls; None: the request's output tool (a structured output).
    tool: str | None = None
    text: str | None = None
    retry_after_s: float | None = None
    delay_s: float = 0.0
    input_tokens: int = 50
    output_tokens: int = 10

    @staticmethod
    def output(arguments: dict[str, Any], **kw: Any) -> Reply:
        return Reply(arguments=arguments, **kw)

    @staticmethod
    def call(tool: str, arguments: dict[str, Any], **kw: Any) -> Reply:
        """A call of ``tool`` (which need not be one the request offered)."""
        return Reply(arguments=arguments, tool=tool, **kw)

    @staticmethod
    def error(status: int, retry_after_s: float | None = None) -> Reply:
        return Reply(status=status, retry_after_s=retry_after_s)


@dataclass
class FakeOpenAI(LocalServer):
    """The server; a context manager that starts and stops it on a free local port."""

    replies: Iterable[Reply] = ()
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._queue: deque[Reply] = deque(self.replies)
        self._lock = threading.Lock()
        self._listen(self.port)

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    @property
    def anthropic_url(self) -> str:
        """The base URL an Anthropic client takes (it adds ``/v1/messages``)."""
        return self.root_url

    def prompts(self) -> list[str]:
        """Each request's messages (and Anthropic's ``system``) as one text, for checking what
        the model was shown."""
        return [
            json.dumps([r.get("system", ""), r.get("messages", [])], sort_keys=True)
            for r in self.requests
        ]

    def _next(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            if not self._queue:
                return Reply(status=500, text="the fake server has no reply scripted")
            return self._queue.popleft()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive: a client's pooled connections are reused, not one thread each.
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None  # quiet

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                reply = server._next(body)
                if reply.delay_s:
                    threading.Event().wait(reply.delay_s)
                anthropic = self.path.rstrip("/").endswith("/messages")
                if reply.status != 200:
                    message = reply.text or "scripted"
                    payload: dict[str, Any] = (
                        {"type": "error", "error": {"type": "api_error", "message": message}}
                        if anthropic
                        else {"error": {"message": message, "code": str(reply.status),
                                        "type": "scripted"}}
                    )  # fmt: skip
                    self._send(reply.status, payload, reply.retry_after_s)
                    return
                answer = _message(body, reply) if anthropic else _completion(body, reply)
                self._send(200, answer, None)

            def _send(self, status: int, payload: dict[str, Any], retry: float | None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                if retry is not None:
                    self.send_header("retry-after", str(retry))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _completion(request: dict[str, Any], reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    finish = "stop"
    if reply.arguments is not None:
        tools = [t["function"]["name"] for t in request.get("tools", [])]
        output_tool = next((t for t in tools if t.startswith("final_result")), None)
        name = reply.tool or output_tool or (tools[0] if tools else "")
        message["tool_calls"] = [{
            "id": f"call_{len(request.get('messages', []))}", "type": "function",
            "function": {"name": name, "arguments": json.dumps(reply.arguments)},
        }]  # fmt: skip
        finish = "tool_calls"
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": request.get("model", "fake"),
        "choices": [{"index": 0, "finish_reason": finish, "message": message}],
        "usage": {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
        },
    }


def _message(request: dict[str, Any], reply: Reply) -> dict[str, Any]:
    """The reply in Anthropic's Messages format: a ``tool_use`` block or text."""
    content: list[dict[str, Any]] = []
    stop = "end_turn"
    if reply.arguments is not None:
        tools = [t["name"] for t in request.get("tools", [])]
        output_tool = next((t for t in tools if t.startswith("final_result")), None)
        name = reply.tool or output_tool or (tools[0] if tools else "")
        content.append({"type": "tool_use", "id": f"toolu_{len(request.get('messages', []))}",
                        "name": name, "input": reply.arguments})  # fmt: skip
        stop = "tool_use"
    else:
        content.append({"type": "text", "text": reply.text or ""})
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": request.get("model", "fake"),
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
    }


def main() -> None:
    """``python -m agentflow.testing.fake_openai --port P --delay S --count N``: serve N
    copies of one structured output (``--output`` JSON) after S seconds each, until killed."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--output", default='{"outcome": "done"}')
    args = parser.parse_args()
    reply = Reply.output(json.loads(args.output), delay_s=args.delay)
    server = FakeOpenAI([reply] * args.count, port=args.port)
    with server:
        print(f"serving on {server.base_url}", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
