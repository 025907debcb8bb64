"""Calls the `callee` app through the local weftd, with the Dapr SDK and with plain requests.

Prints one JSON object on stdout. DAPR_HTTP_PORT points at the caller's weftd.
Usage: python caller.py <calls>
"""

import json
import os
import sys

import requests
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprHttpError, DaprInternalError

CALLS = int(sys.argv[1])
BASE = f"http://127.0.0.1:{os.environ['DAPR_HTTP_PORT']}/v1.0"

out = {'sdk': [], 'requests': [], 'header_form': []}
with DaprClient() as d:
    for _ in range(CALLS):
        resp = d.invoke_method('callee', 'whoami', data='', http_verb='GET')
        out['sdk'].append(json.loads(resp.text())['instance'])
    resp = d.invoke_method(
        'callee', 'echo/a/b', data='{"n": 1}', http_verb='PUT',
        http_querystring=(('q', '1'), ('r', 'x y')), metadata=(('x-test', 'sdk'),),
    )
    out['sdk_echo'] = json.loads(resp.text())
    try:
        d.invoke_method('nobody', 'whoami', data='', http_verb='GET')
        out['sdk_unknown_app'] = 'answered'
    except (DaprHttpError, DaprInternalError) as e:
        out['sdk_unknown_app'] = str(e)

for _ in range(CALLS):
    r = requests.get(f'{BASE}/invoke/callee/method/whoami', timeout=10)
    r.raise_for_status()
    out['requests'].append(r.json()['instance'])
for _ in range(4):
    r = requests.get('http://127.0.0.1:%s/whoami' % os.environ['DAPR_HTTP_PORT'],
                     headers={'dapr-app-id': 'callee'}, timeout=10)
    out['header_form'].append(r.json()['instance'])
r = requests.get(f'{BASE}/invoke/callee/method/teapot', timeout=10)
out['teapot'] = {'status': r.status_code, 'body': r.text, 'x_kind': r.headers.get('x-kind')}
r = requests.get(f'{BASE}/invoke/nobody/method/whoami', timeout=10)
out['unknown_app'] = {'status': r.status_code, 'body': r.json()}
r = requests.get(f'{BASE}/not/an/api', timeout=10)
out['unknown_route'] = {'status': r.status_code, 'body': r.json()}
r = requests.post(f'{BASE}/invoke/callee/method/echo/big', data=b'x' * (5 * 1024 * 1024), timeout=30)
out['oversized'] = {'status': r.status_code, 'body': r.json()}
print(json.dumps(out))
