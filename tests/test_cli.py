"""The ``align-instrument`` command line: serve (as a real process), sessions, show, export, demo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import requests

import align_instrument
from align_instrument import AlignClient
from align_instrument.cli import main
from align_instrument.collector import RunningCollector
from align_instrument.wire import COLLECT_EVENTS_PATH


def _fill(collector: RunningCollector) -> None:
    client = AlignClient(host=collector.url)
    client.identify_user("alice", display_name="Alice")
    client.open_session("s-a", "alice", assistant_id="bot", custom_properties={"plan": "pro"})
    client.create_message("s-a", 1, "user", "first line\nsecond line")
    client.create_message("s-a", 2, "assistant", "answer", custom_properties={"model": "m"})
    client.create_message_feedback("s-a", 2, "thumbs_up")
    client.create_session_feedback("s-a", "thumbs_down")
    client.close_session("s-a")
    client.open_session("s-b", "bob")
    client.create_message("s-b", 1, "user", "hello")
    assert client.close(timeout_seconds=10)


def test_sessions_lists_and_filters(collector: RunningCollector, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(collector)
    db = str(collector.store.path)
    assert main(["sessions", "--db", db]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "SESSION",
        "USER",
        "ASSISTANT",
        "MSGS",
        "UP",
        "DOWN",
        "STATUS",
        "STARTED",
        "(UTC)",
    ]
    assert [line.split()[0] for line in lines[1:]] == ["s-b", "s-a"]
    assert lines[2].split()[:7] == ["s-a", "alice", "bot", "2", "1", "1", "closed"]
    assert main(["sessions", "--db", db, "--user", "bob"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == ["s-b"]
    assert main(["sessions", "--db", db, "--user", "nobody"]) == 0
    assert "no sessions" in capsys.readouterr().out


def test_show_prints_the_transcript(collector: RunningCollector, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(collector)
    assert main(["show", "s-a", "--db", str(collector.store.path)]) == 0
    out = capsys.readouterr().out
    assert "Session s-a" in out and "user: alice" in out and "properties: plan=pro" in out
    assert "session feedback: thumbs_down" in out
    transcript = "[1] user: first line\n    second line\n[2] assistant: answer\n"
    assert transcript + "    properties: model=m\n    feedback: thumbs_up" in out
    assert main(["show", "nope", "--db", str(collector.store.path)]) == 1
    assert "no session 'nope'" in capsys.readouterr().err


def test_export_writes_every_event_as_received(
    collector: RunningCollector, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _fill(collector)
    db = str(collector.store.path)
    assert main(["export", "--format", "jsonl", "--db", db]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines] == collector.store.events()
    assert len(lines) == 9 and json.loads(lines[0])["type"] == "user_recognize"
    out_file = tmp_path / "events.jsonl"
    assert main(["export", "--db", db, "--output", str(out_file)]) == 0
    assert out_file.read_text(encoding="utf-8").splitlines() == lines


def test_missing_database_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "none.db")
    for command in (["sessions"], ["show", "x"], ["export"]):
        assert main([*command, "--db", missing]) == 1
        assert "no database at" in capsys.readouterr().err
    assert not Path(missing).exists()


def test_demo_runs_the_automatic_path_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    db = tmp_path / "demo.db"
    assert main(["demo", "--db", str(db)]) == 0
    captured = capsys.readouterr()
    assert "[1/3]" in captured.err and "done in" in captured.err
    assert "local OpenAI-compatible endpoint" in captured.err
    out = captured.out
    # autoinstrument() threaded the three re-sent-history calls into one session, new messages only
    assert "[1] user: How do I reset my password?" in out
    assert "[5] user: Found it, thanks!" in out and "[7]" not in out.split("Session demo-billing")[0]
    assert "feedback: thumbs_down" in out and "feedback: thumbs_up" in out
    assert "model=local-demo" in out
    assert "assistant: billing-bot" in out  # the align.session(...) scope, streamed reply
    assert "Session demo-langchain-" in out  # the LangChain handler
    assert f"align-instrument serve --db {db}" in out
    assert main(["sessions", "--db", str(db)]) == 0
    listing = capsys.readouterr().out
    assert "demo-user" in listing and "demo-user-2" in listing and "demo-user-3" in listing


def test_demo_without_openai_falls_back_to_the_explicit_api(tmp_path: Path) -> None:
    script = (
        "import sys; sys.modules['openai'] = None\n"  # as if the package were not installed
        "from align_instrument.cli import main\n"
        f"raise SystemExit(main(['demo', '--db', {str(tmp_path / 'demo.db')!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "using the explicit API instead" in result.stderr
    assert "[6] assistant: (canned answer to: Found it, thanks!)" in result.stdout


def test_demo_without_db_uses_a_new_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["demo"]) == 0
    created = list(tmp_path.glob("align-demo-*/align-demo.db"))
    assert len(created) == 1
    assert f"align-instrument serve --db {created[0]}" in capsys.readouterr().out


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "serve" in capsys.readouterr().out


def test_serve_as_a_real_process_with_key_from_environment(tmp_path: Path) -> None:
    db = tmp_path / "served.db"
    env = {**os.environ, "ALIGNAI_API_KEY": "cli-secret-key", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "align_instrument.cli", "serve", "--port", "0", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        banner: list[str] = []
        while not banner or not banner[-1].startswith("Ctrl-C"):
            line = proc.stdout.readline()
            assert line, f"serve exited early: {proc.stderr.read() if proc.stderr else ''}"
            banner.append(line)
        assert banner[0].startswith("Align local collector on http://127.0.0.1:"), banner
        url = banner[0].split()[4]
        assert "bearer token required" in "".join(banner)
        body = {
            "requestId": "r",
            "events": [
                {
                    "id": "e1",
                    "type": "session_close",
                    "projectId": "local",
                    "properties": {"sessionProperties": {"sessionId": "s"}},
                }
            ],
        }
        headers = {"Content-Type": "application/json"}
        refused = requests.post(url + COLLECT_EVENTS_PATH, json=body, headers=headers, timeout=10)
        assert refused.status_code == 401
        headers["Authorization"] = "Bearer cli-secret-key"
        assert (
            requests.post(url + COLLECT_EVENTS_PATH, json=body, headers=headers, timeout=10).status_code
            == 200
        )
        assert requests.get(url + "/sessions/s", timeout=10).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "stopped" in out
    assert "cli-secret-key" not in out + err + "".join(banner)


def test_serve_reports_a_port_in_use(
    collector: RunningCollector, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["serve", "--port", str(collector.port), "--db", str(tmp_path / "x.db")]) == 1
    assert "cannot listen" in capsys.readouterr().err


def test_serve_reports_a_database_it_cannot_open(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0", "--db", str(tmp_path / "missing-dir" / "x.db")]) == 1
    assert "cannot open the database" in capsys.readouterr().err


def test_a_file_that_is_not_a_database_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_db = tmp_path / "notes.txt"
    not_db.write_text("hello, this is not SQLite " * 100)
    assert main(["sessions", "--db", str(not_db)]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"align-instrument {align_instrument.__version__}"


@pytest.mark.parametrize("command", ["serve", "llm"])
@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_bad_port_is_a_one_line_error(command: str, port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--port", port])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"align-instrument {command}: error: argument --port: must be" in err and "65535" in err


def test_show_says_when_no_session_open_arrived(
    collector: RunningCollector, capsys: pytest.CaptureFixture[str]
) -> None:
    client = AlignClient(host=collector.url)
    client.create_message("never-opened", 1, "user", "hello")
    assert client.close(timeout_seconds=10)
    assert main(["show", "never-opened", "--db", str(collector.store.path)]) == 0
    out = capsys.readouterr().out
    assert "started: - (no session_open received for this session)" in out
    assert "- UTC" not in out and "[1] user: hello" in out


def _start(args: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], list[str]]:
    """Start a long-running command; return it with its banner (the lines up to "Ctrl-C to stop.")."""
    proc = subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**(env or os.environ), "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    banner: list[str] = []
    while not banner or not banner[-1].startswith("Ctrl-C"):
        line = proc.stdout.readline()
        if not line:
            proc.kill()
            pytest.fail(f"{args} exited early: {proc.communicate(timeout=10)[1]}")
        banner.append(line)
    return proc, banner


def test_llm_serves_an_existing_app_with_two_environment_variables(collector: RunningCollector) -> None:
    # `python -m align_instrument.local_llm` is the same command as `align-instrument llm`.
    proc, banner = _start(["-m", "align_instrument.local_llm", "--port", "0"])
    try:
        base_url = banner[0].split()[4]
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1"), banner
        assert f"OPENAI_BASE_URL={base_url}" in "".join(banner)
        app = (
            "import align_instrument as align\n"
            "from openai import OpenAI\n"
            "align.autoinstrument()\n"
            "messages = [{'role': 'user', 'content': 'Hi'}]\n"
            "reply = OpenAI().chat.completions.create(model='m', messages=messages)\n"
            "print(reply.choices[0].message.content)\n"
        )
        env = {**os.environ, "ALIGNAI_HOST": collector.url, "OPENAI_BASE_URL": base_url}
        env.setdefault("OPENAI_API_KEY", "local")
        env.pop("ALIGNAI_API_KEY", None)
        result = subprocess.run(
            [sys.executable, "-c", app], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "You said: Hi"
        sessions = collector.store.sessions()
        assert len(sessions) == 1 and sessions[0].message_count == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "stopped" in out


def test_llm_help_and_a_port_in_use(collector: RunningCollector, capsys: pytest.CaptureFixture[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "align_instrument.local_llm", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "--port" in result.stdout
    assert main(["llm", "--port", str(collector.port)]) == 1
    assert "cannot listen on 127.0.0.1:" in capsys.readouterr().err
