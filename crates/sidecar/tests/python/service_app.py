"""A plain FastAPI service behind weftd: what `invoke` passes through to.

Usage: python service_app.py <port> <instance-name>
"""

import sys

import uvicorn
from fastapi import FastAPI, Request, Response

PORT = int(sys.argv[1])
NAME = sys.argv[2]

app = FastAPI()


@app.get('/whoami')
async def whoami():
    return {'instance': NAME}


@app.api_route('/echo/{rest:path}', methods=['GET', 'POST', 'PUT', 'DELETE', 'PATCH'])
async def echo(rest: str, request: Request):
    body = await request.body()
    return {
        'instance': NAME,
        'verb': request.method,
        'path': rest,
        'query': request.url.query,
        'x_test': request.headers.get('x-test'),
        'traceparent': request.headers.get('traceparent'),
        'body': body.decode('utf-8', 'replace'),
    }


@app.get('/teapot')
async def teapot():
    return Response(content='short and stout', status_code=418, headers={'x-kind': 'teapot'})


if __name__ == '__main__':
    uvicorn.run(app, host='127.0.0.1', port=PORT, log_level='warning')
