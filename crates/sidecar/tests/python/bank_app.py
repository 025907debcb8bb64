"""A bank of `Account` actors (the Dapr SDK's Actor class with DaprActor on FastAPI) that logs
every deposit turn, for the pause test (python_pause.rs).

`deposit({"req": id})` reads `balance`, sleeps 10 ms, writes balance + 1 and saves explicitly,
then appends one JSON line to the log:
{"req", "actor", "app", "start", "end", "ok"} with start/end from time.monotonic_ns()
(CLOCK_MONOTONIC, comparable across processes on Linux). A failed turn is logged with
"ok": false and re-raised. `balance()` only reads.

Usage: python bank_app.py <port> <app name> <log file>
"""

import asyncio
import json
import sys
import time

import uvicorn
from dapr.actor import Actor, ActorInterface, actormethod
from dapr.ext.fastapi import DaprActor
from fastapi import FastAPI

PORT = int(sys.argv[1])
APP = sys.argv[2]
LOG = open(sys.argv[3], 'a', buffering=1, encoding='utf-8')


def log(entry: dict) -> None:
    # One write of one whole line; the event loop runs one turn's code at a time.
    LOG.write(json.dumps(entry) + '\n')
    LOG.flush()


class AccountInterface(ActorInterface):
    @actormethod(name='deposit')
    async def deposit(self, body: dict) -> int: ...

    @actormethod(name='balance')
    async def balance(self) -> int: ...


class Account(Actor, AccountInterface):
    async def deposit(self, body: dict) -> int:
        start = time.monotonic_ns()
        entry = {'req': body.get('req'), 'actor': self.id.id, 'app': APP, 'start': start}
        try:
            balance = await self._state_manager.get_or_add_state('balance', 0)
            await asyncio.sleep(0.01)
            await self._state_manager.set_state('balance', balance + 1)
            await self._state_manager.save_state()
        except BaseException as e:
            entry.update(end=time.monotonic_ns(), ok=False, error=repr(e)[:200])
            log(entry)
            raise
        entry.update(end=time.monotonic_ns(), ok=True, balance=balance + 1)
        log(entry)
        return balance + 1

    async def balance(self) -> int:
        found, balance = await self._state_manager.try_get_state('balance')
        return balance if found else 0


app = FastAPI()
actor = DaprActor(app)


@app.on_event('startup')
async def startup():
    await actor.register_actor(Account)


if __name__ == '__main__':
    uvicorn.run(app, host='127.0.0.1', port=PORT, log_level='warning')
