# What a fenced store's commands cost Redis inside one Lua script, against the same commands sent natively (pipelined)
# and against the built-in store's SET and two ZADDs, on random keys among 20,000 entries with 1,100-byte pages.
# Measured by the server: INFO commandstats (a script's time is its EVALSHA's) and used_cpu_user + used_cpu_sys.
# Usage: start a redis-server (no persistence) on a free port, then: python3 store_commands_cost.py <port> [stores]
# It runs FLUSHALL on that server. Results: bench/results/store-commands-cost.md.
import random, socket, sys

def enc(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int): a = str(a).encode()
        elif isinstance(a, str): a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)

class R:
    def __init__(s, port):
        s.s = socket.create_connection(("127.0.0.1", port)); s.buf = b""
    def _line(s):
        while b"\r\n" not in s.buf: s.buf += s.s.recv(1 << 20)
        i = s.buf.index(b"\r\n"); l = s.buf[:i]; s.buf = s.buf[i+2:]; return l
    def _read(s):
        l = s._line(); t = l[:1]
        if t in b"+-:": return l[1:]
        if t == b"$":
            n = int(l[1:])
            if n < 0: return None
            while len(s.buf) < n + 2: s.buf += s.s.recv(1 << 20)
            v = s.buf[:n]; s.buf = s.buf[n+2:]; return v
        if t == b"*":
            n = int(l[1:]); return None if n < 0 else [s._read() for _ in range(n)]
    def pipe(s, cmds):
        s.s.sendall(b"".join(enc(*c) for c in cmds)); return [s._read() for _ in cmds]
    def cmd(s, *a): return s.pipe([a])[0]

port = int(sys.argv[1]); N = 20000; ITER = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
r = R(port)
r.cmd("FLUSHALL")
page = bytes(random.getrandbits(8) for _ in range(1100))
batch = []
for k in range(N):
    batch.append(("SET", f"mint:{{k{k}}}:e", page, "PX", 600000))
    batch.append(("ZADD", f"mint:tag:item-{k}", 1, f"k{k}"))
    batch.append(("ZADD", "mint:tag:items", 1, f"k{k}"))
    if len(batch) > 3000: r.pipe(batch); batch = []
if batch: r.pipe(batch)

# The store's commands, as the script issues them for a page with two tags.
STORE_LUA = """
local t = redis.call('TIME')
local holder = redis.call('GET', KEYS[2])
local clear = redis.call('HMGET', KEYS[5], 'h', 's')
local m1 = redis.call('ZSCORE', KEYS[3], ARGV[2])
local m2 = redis.call('ZSCORE', KEYS[4], ARGV[2])
local old = redis.call('GETRANGE', KEYS[1], 0, 71)
redis.call('SET', KEYS[1], ARGV[1], 'PX', 600000)
redis.call('SETRANGE', KEYS[1], 0, string.sub(ARGV[1], 1, 72))
redis.call('ZADD', KEYS[3], 5, ARGV[3])
redis.call('PTTL', KEYS[3])
redis.call('ZADD', KEYS[4], 5, ARGV[3])
redis.call('PTTL', KEYS[4])
redis.call('DEL', KEYS[2])
redis.call('PUBLISH', 'mint:ch', ARGV[3])
return 1
"""
sha = r.cmd("SCRIPT", "LOAD", STORE_LUA).decode()

def native(k):
    e, c, t1, t2 = f"mint:{{k{k}}}:e", f"mint:{{k{k}}}:c", "mint:tag:items", f"mint:tag:item-{k}"
    return [("TIME",), ("GET", c), ("HMGET", "mint:clear", "h", "s"), ("ZSCORE", t1, "!ev"), ("ZSCORE", t2, "!ev"),
            ("GETRANGE", e, 0, 71), ("SET", e, page, "PX", 600000), ("SETRANGE", e, 0, page[:72]),
            ("ZADD", t1, 5, f"k{k}"), ("PTTL", t1), ("ZADD", t2, 5, f"k{k}"), ("PTTL", t2), ("DEL", c), ("PUBLISH", "mint:ch", f"k{k}")]

def builtin(k):
    e, t1, t2 = f"__MSOCV_k{k}", "__MSOCT_items", f"__MSOCT_item-{k}"
    return [("SET", e, page, "PX", 10000), ("ZADD", t1, 5, e), ("ZADD", t2, 5, e)]

def stats():
    out = {}
    for line in r.cmd("INFO", "commandstats").decode().splitlines():
        if line.startswith("cmdstat_"):
            name, rest = line[8:].split(":", 1)
            f = dict(x.split("=") for x in rest.split(","))
            out[name] = (int(f["calls"]), int(f["usec"]))
    return out

def cpu():
    f = dict(l.split(":", 1) for l in r.cmd("INFO", "cpu").decode().splitlines() if ":" in l)
    return float(f["used_cpu_user"]) + float(f["used_cpu_sys"])

def run(label, make):
    r.cmd("CONFIG", "RESETSTAT")
    c0 = cpu()
    keys = [random.randrange(N) for _ in range(ITER)]
    for i in range(0, ITER, 50):
        cmds = []
        for k in keys[i:i+50]: cmds += make(k)
        r.pipe(cmds)
    c1 = cpu()
    s = stats()
    # The measurement's own CONFIG RESETSTAT and INFO are not the store's (Redis 7 names the first config|resetstat).
    s = {n: v for n, v in s.items() if n.split("|")[0] not in ("config", "info")}
    total = s["evalsha"][1] if "evalsha" in s else sum(u for c, u in s.values())
    calls = sum(c for n, (c, u) in s.items() if n != "evalsha")
    print(f"{label}: {total/ITER:.2f} us per store (commandstats), {(c1-c0)*1e6/ITER:.2f} us Redis CPU, {calls/ITER:.1f} calls; " + ", ".join(f"{n} {u/c:.2f}" for n, (c, u) in sorted(s.items())))

for rnd in range(3):
    run("script ", lambda k: [("EVALSHA", sha, 5, f"mint:{{k{k}}}:e", f"mint:{{k{k}}}:c", "mint:tag:items", f"mint:tag:item-{k}", "mint:clear", page, "!ev", f"k{k}")])
    run("native ", native)
    run("builtin", builtin)
