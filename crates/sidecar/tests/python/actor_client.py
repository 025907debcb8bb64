"""Calls actors through the local weftd with the SDK's ActorProxy (methods are called by their
Dapr names): the Python DemoActor (state, timer) and the Rust Counter. Prints one JSON object.

Usage: python actor_client.py
"""

import asyncio
import json
import os

import requests

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

    @actormethod(name='StartReminder')
    async def start_reminder(self) -> None: ...

    @actormethod(name='StopReminder')
    async def stop_reminder(self) -> None: ...


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
    await demo.StartReminder()
    await asyncio.sleep(1.5)
    firing = len((await demo.Get())['reminded'])
    await demo.StopReminder()
    await asyncio.sleep(0.5)
    stopped_at = (await demo.Get())['reminded']
    await asyncio.sleep(0.8)
    out['reminders'] = {'while_running': firing, 'after_stop': len(stopped_at),
                        'later': len((await demo.Get())['reminded']), 'first': stopped_at[0]}
    base = f"http://127.0.0.1:{os.environ['DAPR_HTTP_PORT']}/v1.0/actors/DemoActor/p1/reminders"
    r = requests.put(f'{base}/bad', json={'dueTime': '1s', 'period': 'every tuesday'}, timeout=10)
    out['bad_period'] = {'status': r.status_code, 'body': r.json()}
    r = requests.put(f'{base}/broken', data=b'{not json', timeout=10)
    out['bad_json'] = {'status': r.status_code, 'body': r.json()}
    counter = ActorProxy.create('Counter', ActorId('c1'), CounterInterface)
    out['rust_incr'] = await counter.incr(5)
    out['python_calls_rust'] = await demo.CallRust('c1')
    out['rust_get'] = await counter.get()
    print(json.dumps(out))


asyncio.run(main())
