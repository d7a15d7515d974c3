"""``autoinstrument()`` at an app's start, in real subprocesses: it never stops the app (no key:
one warning, nothing instrumented), and each integration is installed when the app imports its
library (at once when already imported), so an app that uses only openai never imports LangChain."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from align_instrument.collector import RunningCollector
from align_instrument.local_llm import start_local_llm

PATCHED = (
    "isinstance(openai._base_client.SyncAPIClient.__dict__['request'], __import__('wrapt').FunctionWrapper)"
)


def run(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ALIGNAI_")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_a_missing_key_warns_once_and_the_app_runs_uninstrumented() -> None:
    with start_local_llm() as llm:
        result = run(
            f"""
            import align_instrument as align
            import openai
            client = align.autoinstrument()  # no ALIGNAI_API_KEY, default host
            assert align.autoinstrument() is client  # a second call: same client, no second warning
            client.identify_user("user-1")  # the app's own calls do nothing
            client.open_session("s-1", "user-1")
            reply = openai.OpenAI(base_url={llm.base_url!r}, api_key="x").chat.completions.create(
                model="m", messages=[{{"role": "user", "content": "Hi"}}]
            )
            print(reply.choices[0].message.content)
            print({PATCHED})
            stats = client.stats()
            print(stats["dropped"], stats["enqueued"], "ALIGNAI_API_KEY" in stats["inactive"])
            print(client.flush(), client.close())
            """
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["You said: Hi", "False", "{'inactive': 2} 0 True", "True True"]
    err = result.stderr.splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(
        "align_instrument: autoinstrument() is instrumenting nothing, the app runs unchanged"
    )
    assert "set ALIGNAI_API_KEY" in err[0]


def test_the_removed_settle_seconds_option_still_instruments(collector: RunningCollector) -> None:
    result = run(
        f"""
        import align_instrument as align
        import openai
        client = align.autoinstrument(settle_seconds=10)  # an app written for the earlier release
        print({PATCHED}, "inactive" in client.stats())
        """,
        ALIGNAI_HOST=collector.url,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False"]
    assert "settle_seconds is no longer used" in result.stderr


def test_the_explicit_client_still_raises_without_a_key() -> None:
    result = run(
        """
        import align_instrument as align
        try:
            align.AlignClient()
        except align.ConfigurationError as exc:
            print("raised:", exc)
        """
    )
    assert result.returncode == 0 and result.stdout.startswith("raised: Align API key missing"), result.stderr


def test_openai_imported_after_autoinstrument_is_captured_and_langchain_never_imported(
    collector: RunningCollector,
) -> None:
    with start_local_llm() as llm:
        result = run(
            f"""
            import sys
            import align_instrument as align
            align.autoinstrument()
            assert "openai" not in sys.modules and "langchain_core" not in sys.modules
            import openai  # the app's import installs the openai integration
            print({PATCHED})
            client = openai.OpenAI(base_url={llm.base_url!r}, api_key="x")
            client.chat.completions.create(model="m", messages=[{{"role": "user", "content": "Hi"}}])
            print("langchain_core" in sys.modules, "langsmith" in sys.modules)
            """,
            ALIGNAI_HOST=collector.url,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["True", "False False"]
    assert [s.message_count for s in collector.store.sessions()] == [2]


def test_an_app_that_imported_openai_first_is_patched_at_once(collector: RunningCollector) -> None:
    result = run(
        f"""
        import openai
        import align_instrument as align
        align.autoinstrument()
        print({PATCHED})
        align.uninstrument()
        print({PATCHED})
        align.autoinstrument()
        print({PATCHED})
        """,
        ALIGNAI_HOST=collector.url,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False", "True"]


def test_langchain_is_hooked_when_the_app_imports_it(collector: RunningCollector) -> None:
    result = run(
        """
        import sys
        import align_instrument as align
        from align_instrument.integrations import langchain as lc_integration
        align.autoinstrument()
        print("langchain_core" in sys.modules, lc_integration.global_handler() is not None)
        from langchain_core.language_models import FakeListChatModel
        print(lc_integration.global_handler() is not None)
        FakeListChatModel(responses=["Hello!"]).invoke("Hi")
        """,
        ALIGNAI_HOST=collector.url,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "True"]
    [session] = collector.store.sessions()
    assert session.message_count == 2


def test_an_import_after_uninstrument_installs_nothing(collector: RunningCollector) -> None:
    result = run(
        f"""
        import align_instrument as align
        align.autoinstrument()
        align.uninstrument()
        import openai
        print({PATCHED})
        """,
        ALIGNAI_HOST=collector.url,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False"]


def test_a_failing_integration_never_breaks_the_apps_import(collector: RunningCollector) -> None:
    # A stand-in integration (a real package module) whose install raises, triggered by a real import.
    result = run(
        """
        import sys, types
        import align_instrument as align
        from align_instrument import integrations
        broken = types.ModuleType("align_instrument.integrations.broken")
        def install(engine):
            raise RuntimeError("boom")
        broken.install, broken.uninstall = install, lambda: None
        sys.modules[broken.__name__] = broken
        integrations.INTEGRATIONS["broken"] = "colorsys"
        client = align.autoinstrument()
        import colorsys  # the app's import succeeds
        print(colorsys.rgb_to_hsv(1, 0, 0), client.stats()["internal_errors"])
        """,
        ALIGNAI_HOST=collector.url,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(0.0, 1.0, 1) {'install_broken': 1}"


def test_a_fork_while_another_thread_is_in_the_import_hook_never_hangs_the_child(
    collector: RunningCollector, tmp_path: Path
) -> None:
    # With post-import hooks registered, wrapt's finder takes its lock on each import of a new
    # module. Another thread holds it (as during an import) at the instant the main thread forks.
    (tmp_path / "fresh_module_for_child.py").write_text("VALUE = 1\n")
    result = run(
        f"""
        import os, sys, threading, time
        sys.path.insert(0, {str(tmp_path)!r})
        import align_instrument as align
        align.autoinstrument()  # openai not imported: its hook (and wrapt's finder) is registered
        import wrapt.importer
        held = threading.Event()
        def in_the_finder():
            with wrapt.importer._post_import_hooks_lock:
                held.set()
                time.sleep(0.5)
        threading.Thread(target=in_the_finder).start()
        held.wait()
        pid = os.fork()
        if pid == 0:
            import fresh_module_for_child  # goes through wrapt's finder
            os._exit(0)
        deadline = time.monotonic() + 15
        while not os.waitpid(pid, os.WNOHANG)[0]:
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                print("child hung")
                break
            time.sleep(0.01)
        else:
            print("child done")
        """,
        ALIGNAI_HOST=collector.url,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "child done"
