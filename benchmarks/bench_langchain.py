"""Time the LangChain handler adds per ``invoke`` of a chat model (a script, not a test).

Run from the repository root::

    python benchmarks/bench_langchain.py                 # about 10 seconds
    python benchmarks/bench_langchain.py --calls 20000   # steadier medians

What it does, in one process (the event sink runs in its own subprocess, ``benchmarks/_sink.py``,
so its HTTP handling does not compete for the GIL):

- drives LangChain's own ``FakeListChatModel`` (no network, so only LangChain and the handler
  are timed) through chat conversations of 7 turns: each call sends the whole history (system +
  up to 13 messages), as chat apps do;
- in blocks that alternate between: no handler; a handler that does nothing (what LangChain's
  callback machinery alone costs once any inline handler is attached); an explicit
  ``AlignCallbackHandler`` with the session id in the run metadata; and the handler
  ``autoinstrument()`` registers globally (implicit threading: the session is found by the
  chained hash of the history);
- prints the median time per ``invoke`` of each mode (all turns, and the 7th turn alone) and the
  difference to no handler; events really go out (to the sink) and are counted at the end.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

TURNS = 7
MODES = ("none", "noop-handler", "handler", "autoinstrument")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=7000, help="measured calls per mode (default 7000)")
    parser.add_argument("--block", type=int, default=70, help="calls per block before switching mode")
    args = parser.parse_args()
    warnings.simplefilter("ignore", DeprecationWarning)

    sink = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("_sink.py"))], stdout=subprocess.PIPE, text=True
    )
    try:
        assert sink.stdout is not None
        port = int(sink.stdout.readline())
        run(f"http://127.0.0.1:{port}", args.calls, args.block)
    finally:
        sink.terminate()
        sink.wait(5)


def run(host: str, calls: int, block: int) -> None:
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

    import align_instrument as align
    from align_instrument.langchain import AlignCallbackHandler

    class NoopHandler(BaseCallbackHandler):
        run_inline = True

        def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
            pass

    noop = NoopHandler()
    client = align.autoinstrument(host=host)
    explicit = AlignCallbackHandler(client=client)
    model = FakeListChatModel(responses=[f"Answer number {i} with a few words." for i in range(97)])
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    last_turn: dict[str, list[float]] = {mode: [] for mode in MODES}
    conversation = 0

    def one_conversation(mode: str) -> None:
        nonlocal conversation
        conversation += 1
        history: list[BaseMessage] = [SystemMessage("You are a helpful assistant.")]
        config: dict[str, Any] = {}
        if mode == "handler":
            config = {"callbacks": [explicit], "metadata": {"session_id": f"bench-{conversation}"}}
        elif mode == "noop-handler":
            config = {"callbacks": [noop]}
        elif mode == "none":
            config = {"callbacks": []}
        for turn in range(TURNS):
            history.append(HumanMessage(f"Question {turn} of conversation {conversation}?"))
            start = time.perf_counter()
            reply = model.invoke(history, config=config)
            elapsed = time.perf_counter() - start
            history.append(AIMessage(str(reply.content)))
            times[mode].append(elapsed)
            if turn == TURNS - 1:
                last_turn[mode].append(elapsed)

    # "none" must not get the global handler: disable it by context for those blocks.
    from align_instrument.integrations import langchain as integration

    var = integration._handler_var
    assert var is not None
    for _ in range(3):  # warm up every path
        for mode in MODES:
            token = var.set(None) if mode != "autoinstrument" else None
            one_conversation(mode)
            if token is not None:
                var.reset(token)
    for mode in MODES:
        times[mode].clear()
        last_turn[mode].clear()

    gc.collect()
    per_block = max(1, block // TURNS)
    while min(len(t) for t in times.values()) < calls:
        for mode in MODES:
            token = var.set(None) if mode != "autoinstrument" else None
            for _ in range(per_block):
                one_conversation(mode)
            if token is not None:
                var.reset(token)

    delivered = client.flush(10)
    stats = client.stats()
    align.uninstrument()
    client.close(5)

    base = statistics.median(times["none"])
    base_last = statistics.median(last_turn["none"])
    print(f"LangChain FakeListChatModel.invoke, {TURNS}-turn conversations, {calls} calls per mode")
    print(f"{'mode':<16}{'median/call':>14}{'added':>12}{'7th turn':>12}{'added':>12}")
    for mode in MODES:
        med = statistics.median(times[mode])
        med_last = statistics.median(last_turn[mode])
        print(
            f"{mode:<16}{med * 1e6:>12.1f}us{(med - base) * 1e6:>10.1f}us"
            f"{med_last * 1e6:>10.1f}us{(med_last - base_last) * 1e6:>10.1f}us"
        )
    print(
        f"events sent: {stats['sent']} (all delivered: {delivered}), dropped: {stats['dropped']}, "
        f"internal errors: {stats['internal_errors']}"
    )


if __name__ == "__main__":
    main()
