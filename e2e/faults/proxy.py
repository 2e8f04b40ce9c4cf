"""A TCP proxy that injects faults: `python proxy.py LISTEN TARGET_HOST TARGET_PORT CONTROL`.

Runs as its own process (not a thread of the load generator, whose GIL would
add latency to every forwarded byte). Modes, set by a line on the control
port (answered with `ok`):

  pass          forward both ways
  delay <ms>    hold every chunk from the client that long before forwarding
  blackhole     accept and read, forward nothing, never answer (existing
                connections go silent too)
  upstream <port>  send new connections to that port of the same host, as a
                Kubernetes Service or a managed database endpoint moves to a
                promoted standby (established connections stay where they are)

Leaving `blackhole` closes the connections it silenced: their streams lost
bytes, so clients must reconnect (as after a real network partition).
"""

from __future__ import annotations

import asyncio
import sys

state = {"mode": "pass", "delay": 0.0, "port": 0}
silenced: set[asyncio.StreamWriter] = set()


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delayed: bool) -> None:
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            if state["mode"] == "blackhole":
                silenced.add(writer)
                continue
            if delayed and state["mode"] == "delay":
                await asyncio.sleep(state["delay"])
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
    if state["mode"] == "blackhole":
        silenced.add(writer)
        while await reader.read(65536):
            pass
        writer.close()
        return
    try:
        up_reader, up_writer = await asyncio.open_connection(host, state["port"])
    except OSError:
        writer.close()
        return
    await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))


async def control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    words = (await reader.readline()).decode().split()
    if words and words[0] == "upstream":
        state["port"] = int(words[1])
    elif words:
        leaving_blackhole = state["mode"] == "blackhole" and words[0] != "blackhole"
        state["mode"] = words[0]
        state["delay"] = float(words[1]) / 1000 if len(words) > 1 else 0.0
        if leaving_blackhole:
            for w in list(silenced):
                w.close()
            silenced.clear()
    writer.write(b"ok\n")
    await writer.drain()
    writer.close()


async def main(listen: int, host: str, port: int, control_port: int) -> None:
    state["port"] = port
    proxy = await asyncio.start_server(lambda r, w: client(r, w, host), "127.0.0.1", listen)
    ctl = await asyncio.start_server(control, "127.0.0.1", control_port)
    print("ready", flush=True)
    async with proxy, ctl:
        await asyncio.gather(proxy.serve_forever(), ctl.serve_forever())


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
