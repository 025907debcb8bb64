"""A Python actor service written with the Dapr SDK's Actor class and DaprActor (FastAPI).

DemoActor keeps a count in actor state, ticks a timer, and can call the Rust `Counter` actor.
Usage: python actor_app.py <port>
"""

import sys
from datetime import timedelta

import uvicorn
from dapr.actor import Actor, ActorId, ActorInterface, ActorProxy, Remindable, actormethod
from dapr.actor.runtime.config import ActorRuntimeConfig
from dapr.actor.runtime.runtime import ActorRuntime
from dapr.ext.fastapi import DaprActor
from fastapi import FastAPI

PORT = int(sys.argv[1])
# Activations per actor id, in this process (a deactivated actor is activated anew).
ACTIVATIONS = {}


class DemoActorInterface(ActorInterface):
    @actormethod(name='Incr')
    async def incr(self, by: int) -> int: ...

    @actormethod(name='Get')
    async def get(self) -> dict: ...

    @actormethod(name='StartTimer')
    async def start_timer(self) -> None: ...

    @actormethod(name='StopTimer')
    async def stop_timer(self) -> None: ...

    @actormethod(name='CallRust')
    async def call_rust(self, counter_id: str) -> int: ...

    @actormethod(name='StartReminder')
    async def start_reminder(self) -> None: ...

    @actormethod(name='StopReminder')
    async def stop_reminder(self) -> None: ...


class CounterInterface(ActorInterface):
    @actormethod(name='incr')
    async def incr(self, by: int) -> int: ...


class DemoActor(Actor, DemoActorInterface, Remindable):
    async def _on_activate(self) -> None:
        ACTIVATIONS[self.id.id] = ACTIVATIONS.get(self.id.id, 0) + 1

    async def incr(self, by: int) -> int:
        n = await self._state_manager.get_or_add_state('count', 0) + by
        await self._state_manager.set_state('count', n)
        return n

    async def get(self) -> dict:
        return {
            'count': await self._state_manager.get_or_add_state('count', 0),
            'ticks': await self._state_manager.get_or_add_state('ticks', 0),
            'activations': ACTIVATIONS.get(self.id.id, 0),
            'reminded': await self._state_manager.get_or_add_state('reminded', []),
        }

    async def start_timer(self) -> None:
        await self.register_timer(
            'tick', self.tick, {'step': 1}, timedelta(milliseconds=100), timedelta(milliseconds=200)
        )

    async def stop_timer(self) -> None:
        await self.unregister_timer('tick')

    async def tick(self, state) -> None:
        ticks = await self._state_manager.get_or_add_state('ticks', 0)
        await self._state_manager.set_state('ticks', ticks + state['step'])

    async def start_reminder(self) -> None:
        await self.register_reminder(
            'r1', b'ping', timedelta(milliseconds=100), timedelta(milliseconds=300)
        )

    async def stop_reminder(self) -> None:
        await self.unregister_reminder('r1')

    async def receive_reminder(self, name, state, due_time, period, ttl=None) -> None:
        reminded = await self._state_manager.get_or_add_state('reminded', [])
        await self._state_manager.set_state('reminded', reminded + [f'{name}:{state.decode()}'])

    async def call_rust(self, counter_id: str) -> int:
        proxy = ActorProxy.create('Counter', ActorId(counter_id), CounterInterface)
        return await proxy.incr(10)


app = FastAPI()
ActorRuntime.set_actor_config(
    ActorRuntimeConfig(actor_idle_timeout=timedelta(seconds=2), actor_scan_interval=timedelta(seconds=1))
)
actor = DaprActor(app)


@app.on_event('startup')
async def startup():
    await actor.register_actor(DemoActor)


if __name__ == '__main__':
    uvicorn.run(app, host='127.0.0.1', port=PORT, log_level='warning')
