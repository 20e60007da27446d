"""`eventually`: the first truthy value in time, NotYet naming what it waited for, GiveUp at once."""

import time

import pytest

from testkit.polling import GiveUp, NotYet, eventually


def test_the_first_truthy_value_comes_back_and_errors_count_as_not_yet():
    answers = iter([ConnectionError("coming back"), 0, None, "ready"])

    def condition():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert eventually(condition, 5, interval_s=0) == "ready"


def test_time_running_out_names_what_was_awaited_and_what_it_last_saw():
    started = time.monotonic()
    with pytest.raises(NotYet, match=r"the jobs finished not met after 0.2 s \(last: \[\]\)"):
        eventually(lambda: [], 0.2, interval_s=0.01, what="the jobs finished")
    assert 0.2 <= time.monotonic() - started < 1


def test_give_up_ends_the_wait_at_once():
    def exited():
        raise GiveUp("the process exited")

    started = time.monotonic()
    with pytest.raises(GiveUp, match="exited"):
        eventually(exited, 30, interval_s=0)
    assert time.monotonic() - started < 1
