"""models.decode_threads: the decode thread count chosen by timing tokens on each count."""

from __future__ import annotations

from agent_app.models.decode_threads import RETRY_SECONDS, TRIAL_TOKENS, DecodeThreads


class Machine:
    """A clock whose steps take `per_token[threads]` seconds on the count last set."""

    def __init__(self, per_token: dict[int, float]) -> None:
        self.per_token, self.now, self.threads, self.sets = per_token, 0.0, 0, []

    def set_threads(self, n: int) -> None:
        self.threads = n
        self.sets.append(n)

    def clock(self) -> float:
        return self.now

    def tokens(self, chooser: DecodeThreads, n: int) -> list[int]:
        """Decode `n` tokens; the thread count each one ran on."""
        used = []
        for _ in range(n):
            used.append(self.threads)
            self.now += self.per_token[self.threads]
            chooser.step()
        return used


def answer(machine: Machine, chooser: DecodeThreads, n: int = 20) -> list[int]:
    chooser.start()
    return machine.tokens(chooser, n)


def test_an_idle_machine_writes_on_both_threads_a_busy_one_on_one():
    for per_token, best in (({2: 0.05, 1: 0.07}, 2), ({2: 0.24, 1: 0.067}, 1)):
        machine = Machine(per_token)
        chooser = DecodeThreads((2, 1), machine.set_threads, machine.clock)
        used = answer(machine, chooser)
        trial = TRIAL_TOKENS + 1
        assert used[:trial] == [2] * trial and used[trial : 2 * trial] == [1] * trial
        assert chooser.chosen == best and set(used[2 * trial :]) == {best}


def test_the_choice_is_kept_then_tried_again_after_a_while():
    machine = Machine({2: 0.05, 1: 0.07})
    chooser = DecodeThreads((2, 1), machine.set_threads, machine.clock)
    answer(machine, chooser)
    assert set(answer(machine, chooser)) == {2}  # no trial: the next answer starts on the choice
    machine.now += RETRY_SECONDS + 1
    assert answer(machine, chooser)[: 2 * TRIAL_TOKENS + 2].count(1) == TRIAL_TOKENS + 1  # timed again


def test_another_program_starting_mid_answer_moves_the_writing_to_one_thread():
    machine = Machine({2: 0.05, 1: 0.07})
    chooser = DecodeThreads((2, 1), machine.set_threads, machine.clock)
    answer(machine, chooser)
    machine.per_token = {2: 0.24, 1: 0.067}  # a second program takes a core
    used = answer(machine, chooser, 40)
    assert chooser.chosen == 1 and used[-10:] == [1] * 10
    assert used.count(2) < 2 * TRIAL_TOKENS + 4  # the slow tokens before it noticed, and the trial


def test_a_fixed_count_is_never_timed():
    machine = Machine({1: 0.07})
    chooser = DecodeThreads((1,), machine.set_threads, machine.clock)
    assert set(answer(machine, chooser)) == {1} and set(machine.sets) == {1}


def test_slower_tokens_on_one_thread_do_not_start_a_trial():
    """A busier machine slows one thread too; trying two there only costs collapsed tokens."""
    machine = Machine({2: 0.24, 1: 0.067})
    chooser = DecodeThreads((2, 1), machine.set_threads, machine.clock)
    answer(machine, chooser)
    machine.per_token = {2: 0.5, 1: 0.15}
    assert set(answer(machine, chooser, 40)) == {1}
