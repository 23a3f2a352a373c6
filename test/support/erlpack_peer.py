"""Test peer: Discord's erlpack on the other side of Realtime.ETF.

  python erlpack_peer.py pack      prints "name hex" for each case, packed by erlpack
  python erlpack_peer.py unpack    reads "name hex" lines, unpacks them with erlpack,
                                   and prints "name ok" or "name FAIL <repr>"
"""
import sys

import erlpack

# What erlpack packs, by case name. The Elixir test holds the expected terms.
PACK = {
    "int_small": 7,
    "int_neg": -70000,
    "int_u64": 2**64 - 1,
    "float": 2.5,
    "none": None,
    "true": True,
    "false": False,
    "str": "hello",
    "unicode": "héllo 日本",
    "bytes": b"\xff\x00",
    "list": [1, "a", [2.5]],
    "tuple": (1, 2),
    "empty_list": [],
    "empty_dict": {},
    "atom": erlpack.Atom("ok"),
    "identify": {"op": 2, "d": {"token": "abc", "intents": 513, "properties": {"os": "linux"}}},
}

# What erlpack must unpack from our encoding of the same-named Elixir terms.
UNPACK = {
    "int_small": 7,
    "int_neg": -70000,
    "int_i64": 2**63 - 1,
    "float": -0.125,
    "nil": None,
    "true": True,
    "false": False,
    "binary": b"hello",
    "unicode": "héllo 日本".encode(),
    "list": [1, b"a", [2.5]],
    "tuple": (1, 2),
    "empty_list": [],
    "empty_map": {},
    "atom": "ok",
    "dispatch": {b"op": 0, b"s": 42, b"t": b"MESSAGE_CREATE", b"d": {b"content": b"hi", b"mentions": [], b"pinned": False}},
}


def main():
    mode = sys.argv[1]
    if mode == "pack":
        for name, value in PACK.items():
            print(name, erlpack.pack(value).hex())
    elif mode == "unpack":
        for line in sys.stdin:
            name, hexed = line.split()
            got = erlpack.unpack(bytes.fromhex(hexed))
            want = UNPACK[name]
            same = got == want and type(got) is type(want) if not isinstance(want, str) else got == want
            print(name, "ok" if same else "FAIL " + repr(got))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
