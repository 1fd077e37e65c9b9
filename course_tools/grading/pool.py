"""The grader's side of the workers: start them, hand them exercises, collect the results.

Each worker (:mod:`course_tools.grading.worker`) is a separate Python process started with ``-P``
in an empty temporary folder (so no ``course_lib`` folder next to a submission can be imported in
place of the real one), with one thread for numerical libraries; the grader runs as many as there
are cores (at most ``jobs``). Each reports whether the kernel lets it confine its children's file
writes with Landlock (``confined``). A worker that dies is restarted and the exercise it held is reported
``not run``. A job's hidden seed (and the judge's own seed) goes to the worker in a second message,
only once the worker has forked the exercise's children and asks for it: no child's memory holds it.
"""
from __future__ import annotations

import json
import os
import queue
import select
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from course_lib.environment import REPO_ROOT

__all__ = ["Pool"]

_THREADS = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
_SECRET = ("seed", "judge_seed")   # sent to a worker only once it has forked the children of the job
_STARTUP = 600.0            # seconds a worker may take to import everything on a loaded machine


class _Worker:
    def __init__(self, init: dict):
        self.init = init
        self.folder = tempfile.mkdtemp(prefix="grader-")
        self.log = open(Path(self.folder) / "worker.log", "w+b")
        env = {**os.environ, **_THREADS, "PYTHONPATH": str(REPO_ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
        self.process = subprocess.Popen([sys.executable, "-P", "-m", "course_tools.grading.worker"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                        cwd=self.folder, env=env, text=True, bufsize=1)
        self.process.stdin.write(json.dumps(init) + "\n")
        self.process.stdin.flush()
        self.ready, self.landlock = False, 0

    def _line(self, seconds: float) -> str | None:
        if not select.select([self.process.stdout], [], [], seconds)[0]:
            return None
        return self.process.stdout.readline() or None

    def _tail(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")[-600:]

    def ask(self, job: dict) -> dict:
        if not self.ready:
            line = self._line(_STARTUP)
            if not line or not json.loads(line).get("ready"):
                raise RuntimeError(f"a grading worker did not start:\n{self._tail()}")
            self.ready, self.landlock = True, json.loads(line).get("landlock", 0)
        public = {k: v for k, v in job.items() if k not in _SECRET}
        secret = {k: job[k] for k in _SECRET if k in job}
        try:
            self.process.stdin.write(json.dumps(public) + "\n")
            self.process.stdin.flush()
            line = self._line(float(job.get("timeout", 120)) + 60)
            if line is not None and json.loads(line).get("secret?"):
                # the worker has forked the exercise's children: only now does it get the hidden seed
                self.process.stdin.write(json.dumps(secret) + "\n")
                self.process.stdin.flush()
                line = self._line(float(job.get("timeout", 120)) + 60)
        except (BrokenPipeError, OSError, ValueError):
            line = None
        if line is None:
            return {"status": "not run", "detail": f"the grading worker stopped: {self._tail()[-300:]}"}
        return json.loads(line)

    def close(self) -> None:
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        for name in os.listdir(self.folder):
            os.unlink(Path(self.folder) / name)
        os.rmdir(self.folder)


class Pool:
    """Workers that grade exercises in parallel; use as a context manager."""

    def __init__(self, init: dict, jobs: int | None = None):
        self.init = init
        self.size = max(1, min(jobs or os.cpu_count() or 1, os.cpu_count() or 1))
        self.workers = [_Worker(init) for _ in range(self.size)]       # they start importing right away

    def run(self, jobs: list[dict]) -> list[dict]:
        """The result of every job, in order."""
        results = [None] * len(jobs)
        todo = queue.Queue()
        for index, job in enumerate(jobs):
            todo.put(index)
        errors = []

        def serve(slot: int) -> None:
            while True:
                try:
                    index = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    result = self.workers[slot].ask(jobs[index])
                    if result.get("status") == "not run" and self.workers[slot].process.poll() is not None:
                        self.workers[slot].close()
                        self.workers[slot] = _Worker(self.init)
                    results[index] = result
                except Exception as error:  # noqa: BLE001 - reported once all threads are done
                    errors.append(error)
                    return

        threads = [threading.Thread(target=serve, args=(slot,), daemon=True) for slot in range(self.size)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return results

    @property
    def confined(self) -> bool:
        """True if every worker that graded confines its children's writes with Landlock."""
        return all(worker.landlock for worker in self.workers if worker.ready)

    def close(self) -> None:
        for worker in self.workers:
            worker.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
