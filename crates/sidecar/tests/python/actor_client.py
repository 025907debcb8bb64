"""Calls actors through the local weftd with the SDK's ActorProxy (methods are called by their
Dapr names): the Python DemoActor (state, timer) and the Rust Counter. Prints one JSON object.

Usage: python actor_client.py
"""

import asyncio
import json

from dapr.actor import ActorId, ActorInterface, ActorProxy, actormethod


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


class CounterInterface(ActorInterface):
    @actormethod(name='incr')
    async def incr(self, by: int) -> int: ...

    @actormethod(name='get')
    async def get(self) -> int: ...


async def main():
    out = {}
    demo = ActorProxy.create('DemoActor', ActorId('p1'), DemoActorInterface)
    out['incr'] = [await demo.Incr(2), await demo.Incr(3)]
    await demo.StartTimer()
    await asyncio.sleep(1.5)
    ticking = (await demo.Get())['ticks']
    await demo.StopTimer()
    await asyncio.sleep(0.5)
    stopped_at = (await demo.Get())['ticks']
    await asyncio.sleep(0.8)
    out['ticks'] = {'while_running': ticking, 'after_stop': stopped_at,
                    'later': (await demo.Get())['ticks']}
    counter = ActorProxy.create('Counter', ActorId('c1'), CounterInterface)
    out['rust_incr'] = await counter.incr(5)
    out['python_calls_rust'] = await demo.CallRust('c1')
    out['rust_get'] = await counter.get()
    print(json.dumps(out))


asyncio.run(main())
