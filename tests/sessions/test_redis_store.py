"""RedisSessionStore against a real redis-server: the same scenarios run against the reference
InMemorySessionStore and compared call by call; bounds, expiry and privacy of what Redis holds."""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
import uuid
from typing import Any

import pytest
from redis_server import RedisServer

from align_instrument.sessions import ASSISTANT, TOOL_CALLS, TOOL_RESULT, USER, ChatItem, InMemorySessionStore
from align_instrument.sessions.messages import Keyer, tool_call_key
from align_instrument.sessions.redis_store import RedisSessionStore
from align_instrument.sessions.resolution import Request, plan_request, reply_keys
from align_instrument.sessions.store import DONE, INCOMPLETE, ResponsePoint, TurnClaim, TurnOutcome


def u(text: str) -> ChatItem:
    return ChatItem(USER, text)


def a(text: str) -> ChatItem:
    return ChatItem(ASSISTANT, text)


def make_store(server: RedisServer, **kwargs: Any) -> RedisSessionStore:
    return RedisSessionStore(server.url, prefix="t" + uuid.uuid4().hex[:8], socket_timeout=2, **kwargs)


class Both:
    """Runs every store operation on the reference memory store and on Redis; they must agree."""

    def __init__(self, server: RedisServer, **kwargs: Any) -> None:
        self.mem = InMemorySessionStore(1800)
        self.red = make_store(server, **kwargs)
        self.ids = itertools.count(1)
        self.calls = 0

    def same(self, operation: str, *args: Any) -> Any:
        expected = getattr(self.mem, operation)(*args)
        got = getattr(self.red, operation)(*args)
        if operation == "claim_expired":  # sessions idle since the same instant: any order
            assert sorted(got) == sorted(expected), (operation, self.calls)
        else:
            assert got == expected, (operation, self.calls)
        self.calls += 1
        return expected

    def begin(
        self,
        items: list[ChatItem],
        now: float,
        *,
        user: str | None = None,
        session_id: str | None = None,
        response_key: str | None = None,
        delta: bool = False,
    ) -> tuple[Request, TurnClaim]:
        """Plan the request as the engine does, then begin the turn on both stores."""
        user_id = user or "anonymous"
        if session_id:
            keyer = turn_keyer = Keyer("s\x1f" + session_id)
        else:
            keyer = Keyer(f"i\x1fpartition\x1f{user_id}")
            turn_keyer = Keyer("p\x1f" + response_key) if response_key else keyer
        request = plan_request(
            items,
            keyer=keyer,
            turn_keyer=turn_keyer,
            session_id=session_id,
            response_key=response_key,
            new_session_id=f"s{next(self.ids)}",
            user_id=user_id,
            regenerate_first=response_key is not None or (bool(user) and not delta),
        )
        return request, self.same("begin_turn", request.plan, now)

    def end(
        self,
        request: Request,
        claim: TurnClaim,
        reply: str | None,
        now: float,
        *,
        status: int = DONE,
        tool_calls: str = "",
        response_key: str | None = None,
        alternatives: tuple[str, ...] = (),
    ) -> int:
        outputs = [a(reply)] if reply else []
        if tool_calls:
            outputs.append(ChatItem(TOOL_CALLS, tool_calls))
        outcome = TurnOutcome(
            claim.session_id,
            turn_key(request, claim),
            bool(reply),
            status,
            reply_keys(request, outputs, [a(x) for x in alternatives]),
            response_key,
        )
        index: int = self.same("end_turn", outcome, now)
        return index

    def fail(self, request: Request, claim: TurnClaim, now: float) -> None:
        self.same("fail_turn", claim.session_id, turn_key(request, claim), now)


def turn_key(request: Request, claim: TurnClaim) -> bytes:
    plan = request.plan
    return plan.anchors[claim.anchor].turn_key if claim.anchor >= 0 else plan.opening_key


@pytest.fixture
def both(redis_server: RedisServer) -> Both:
    return Both(redis_server)


def test_new_session_then_continue_by_anchor(both: Both) -> None:
    r, c = both.begin([u("Hi")], 1000)
    assert (c.session_id, c.log, c.first_index, c.opened) == ("s1", "history", 1, True)
    assert both.end(r, c, "Hello!", 1001) == 2
    # the app trims and wraps its history: only the newest output needs to match
    r, c = both.begin([u("(summary)"), a("Hello!"), u("How are you?")], 1002)
    assert (c.session_id, c.log, c.first_index, c.anchor) == ("s1", "new", 3, 0)
    assert both.end(r, c, "Fine.", 1003) == 4


def test_ambiguous_outputs_open_a_new_session_unless_a_stronger_key_tells(both: Both) -> None:
    for user_text in ("Hi", "Hi", "Hey"):
        r, c = both.begin([u(user_text)], 1000)
        both.end(r, c, "Hello!", 1001)
    r, c = both.begin([u("Hi"), a("Hello!"), u("weather?")], 1002)
    assert c.ambiguous and c.opened and c.session_id == "s4"
    r, c = both.begin([u("Hey"), a("Hello!"), u("weather?")], 1003)
    assert not c.ambiguous and c.session_id == "s3"  # "after Hey" is held by one session only


def test_regeneration_failed_retry_and_incomplete_retry(both: Both) -> None:
    history = [u("Tell me a joke")]
    r, c = both.begin(history, 1000, user="ada")
    assert both.end(r, c, "Joke one", 1001) == 2
    r, c = both.begin(history, 1002, user="ada")  # same request again: a regeneration
    assert (c.log, c.regenerates) == ("none", 2)
    assert both.end(r, c, "Joke two", 1003) == 3
    history += [a("Joke two"), u("Another")]
    r, c = both.begin(history, 1004, user="ada")
    both.fail(r, c, 1005)
    r, c = both.begin(history, 1006, user="ada")  # retry after a failure: nothing logged again
    assert (c.log, c.regenerates, c.first_index) == ("none", 0, 5)
    assert both.end(r, c, "Joke three", 1007, status=INCOMPLETE) == 5
    r, c = both.begin(history, 1008, user="ada")  # retry after a cut-short reply
    assert (c.log, c.regenerates) == ("none", 5)
    assert both.end(r, c, "Joke three, whole", 1009) == 6
    # anonymous: the same opening again after a complete reply is another user's conversation
    r1, c1 = both.begin([u("Hi")], 1010)
    both.end(r1, c1, "Hello!", 1011)
    _, c2 = both.begin([u("Hi")], 1012)
    assert c2.session_id != c1.session_id and c2.log == "history"


def test_resumed_after_close_continues_and_explicit_resume_keeps_indexes(both: Both) -> None:
    r, c = both.begin([u("Hi")], 1000)
    both.end(r, c, "Hello!", 1001)
    r, c = both.begin([u("x")], 1001, session_id="conv-1")
    both.end(r, c, "y", 1002)
    assert both.same("claim_expired", 1001.0) == []  # idle since before: strictly
    assert both.same("claim_expired", 5000.0) == ["s1", "conv-1"]
    assert both.same("claim_expired", 5000.0) == []  # each session is claimed once
    r, c = both.begin([u("Hi"), a("Hello!"), u("back")], 6000)
    assert (c.continues, c.opened, c.log, c.first_index) == ("s1", True, "new", 1)
    r, c = both.begin([u("x"), a("y"), u("z")], 6000, session_id="conv-1")
    assert (c.session_id, c.opened, c.first_index) == ("conv-1", True, 3)  # indexes never reused
    # a reply whose session was closed while the call ran gets a fresh index; the session stays
    # closed (closed once, resumed by id at the next free index)
    assert both.same("claim_expired", 7000.0) == ["s3", "conv-1"]
    assert both.end(r, c, "w", 7001) == 4
    assert both.same("claim_expired", 90000.0) == []
    r, c = both.begin([u("x"), a("y"), u("z"), a("w"), u("again")], 90001, session_id="conv-1")
    assert (c.opened, c.first_index) == (True, 5)


def test_response_ids_and_run_ids(both: Both) -> None:
    r, c = both.begin([u("Hi")], 1000, user="ada")
    both.end(r, c, "Hello!", 1001, response_key="resp_1")
    assert both.same("get_response", "resp_1") == ResponsePoint("s1", 2)
    assert both.same("get_response", "nope") is None
    r, c = both.begin([u("next")], 1002, user="ada", response_key="resp_1", delta=True)
    assert (c.session_id, c.first_index, c.log) == ("s1", 3, "new")
    both.end(r, c, None, 1003, tool_calls=tool_call_key(["call_1"]), response_key="resp_2")
    assert both.same("get_response", "resp_2") == ResponsePoint("s1", None)
    both.same("put_response", "run-9", ResponsePoint("s1", 2))
    assert both.same("get_response", "run-9") == ResponsePoint("s1", 2)


def test_tool_loops_and_alternatives_thread(both: Both) -> None:
    history = [u("weather in Oslo?")]
    r, c = both.begin(history, 1000)
    both.end(r, c, None, 1001, tool_calls="call_1")
    history += [ChatItem(TOOL_CALLS, "call_1"), ChatItem(TOOL_RESULT, "call_1")]
    r, c = both.begin(history, 1002)
    assert (c.session_id, c.log) == ("s1", "new")
    both.end(r, c, "Sunny", 1003, alternatives=("Rainy",))
    r, c = both.begin([*history, a("Rainy"), u("thanks")], 1004)  # the app kept the other choice
    assert c.session_id == "s1"


def test_random_conversations_agree_call_by_call(both: Both) -> None:
    """Many interleaved conversations with every kind of step, in random order."""
    rng = random.Random(11)
    conversations: list[dict[str, Any]] = []
    now = 1000.0
    for step in range(400):
        now += rng.choice((0.5, 1, 2, 40))
        if not conversations or rng.random() < 0.1:
            conversations.append(
                {"items": [u(f"hello {rng.randint(0, 3)}")], "user": rng.choice((None, "ada", "bob")),
                 "session": rng.choice((None, None, f"conv-{len(conversations)}"))}
            )  # fmt: skip
        conv = rng.choice(conversations)
        items = list(conv["items"])
        if rng.random() < 0.15 and len(items) > 3:
            items = items[2:]  # the app trims its history
        r, c = both.begin(items, now, user=conv["user"], session_id=conv["session"])
        roll = rng.random()
        if roll < 0.15:
            both.fail(r, c, now)
            continue
        reply = rng.choice(("Hello!", "Sure.", f"Answer {step}"))
        both.end(r, c, reply, now + 0.1, status=INCOMPLETE if roll < 0.25 else DONE, response_key=f"r{step}")
        if rng.random() < 0.8:  # otherwise the app regenerates next time
            conv["items"] = [*items, a(reply), u(f"q{step}")]
        if rng.random() < 0.05:
            both.same("claim_expired", now - rng.choice((30, 100)))
    both.same("claim_expired", now + 10_000)
    assert both.calls > 700


def test_keys_are_bounded_expiring_namespaced_and_private(redis_server: RedisServer) -> None:
    both = Both(redis_server, max_keys_per_session=20, session_timeout=600)
    texts: list[str] = []
    history = [u("secret question 0")]
    for i in range(40):
        r, c = both.begin(history, 1000 + i)
        reply = f"secret answer {i}"
        both.end(r, c, reply, 1000.5 + i, response_key=f"resp-{i}")
        texts += [history[-1].text, reply]
        history += [a(reply), u(f"secret question {i + 1}")]
    store, client = both.red, redis_server.client()
    keys = store.key_names()
    # per session: its hash, its key list, and at most max_keys_per_session others; plus the set
    assert len(keys) <= 20 + 3
    assert all(k.startswith(store._keyspace) for k in keys)
    for k in keys:
        assert client.pttl(k) > 0, k
    ttl_session = client.pttl(store._keyspace + "s:s1")
    assert 600_000 < ttl_session <= (600 + 3600) * 1000
    assert client.pttl(store._keyspace + "k:s1") > 86_000_000  # anchors' memory: at least a day
    dump = b"".join(k.encode() + str(client.dump(k)).encode() for k in keys)
    assert not any(t.encode() in dump for t in texts)
    # the newest replies still thread after the oldest keys were dropped
    r, c = both.begin(history, 2000)
    assert (c.session_id, c.log) == ("s1", "new")


def test_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match="redis://"):
        RedisSessionStore("http://user:pw@localhost:6379")
    with pytest.raises(ValueError, match="\\*\\*\\*"):
        RedisSessionStore("mysql://user:pw@localhost")
    with pytest.raises(TypeError, match=r"redis\.Redis client"):
        RedisSessionStore(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="project"):
        RedisSessionStore("redis://localhost", project="a{b}")


def test_a_client_of_the_app_with_decoded_responses(redis_server: RedisServer) -> None:
    """An app's own redis.Redis (here decoding replies to str) serves as well as a URL."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=redis_server.port, decode_responses=True, socket_timeout=2)
    both = Both(redis_server)
    both.red = RedisSessionStore(client, prefix="app" + uuid.uuid4().hex[:8])
    r, c = both.begin([u("Hi")], 1000, user="ada")
    both.end(r, c, "Hello!", 1001, response_key="resp-1")
    both.begin([u("Hi"), a("Hello!"), u("next")], 1002, user="ada")
    assert both.same("get_response", "resp-1") == ResponsePoint("s1", 2)
    assert both.same("claim_expired", 5000.0) == ["s1"]


def test_autoinstrument_wiring_and_lazy_import(redis_server: RedisServer, collector: Any) -> None:
    """session_store= / ALIGNAI_SESSION_STORE build the store; redis is imported only then."""
    code = """
import os, sys
import align_instrument as align
from align_instrument.instrument import active_engine
align.autoinstrument(host=sys.argv[1])
assert "redis" not in sys.modules and active_engine().store is active_engine().local_store
align.uninstrument()
os.environ["ALIGNAI_SESSION_STORE"] = sys.argv[2]
client = align.autoinstrument(host=sys.argv[1], project_id="proj-7")
store = active_engine().store
assert type(store).__name__ == "RedisSessionStore" and store._keyspace == "align:{proj-7}:", store
assert client.stats()["session_store"] == {"errors": 0, "skipped": 0, "outages": 0, "down": 0}
align.uninstrument()
os.environ["ALIGNAI_SESSION_STORE"] = "http://redis:6379"  # a mistake: the app still starts
align.autoinstrument(host=sys.argv[1])
assert active_engine().store is active_engine().local_store
from align_instrument.sessions import RedisSessionStore
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if k != "ALIGNAI_SESSION_STORE"}
    done = subprocess.run(
        [sys.executable, "-c", code, collector.url, redis_server.url],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.stdout.strip() == "ok", done.stderr
    # the bad URL is named, with the fix, in one line on stderr (the app configured no logging)
    assert "session_store cannot be used" in done.stderr and "redis://" in done.stderr
