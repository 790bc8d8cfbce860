#!/usr/bin/env python3
"""Recomputes the virtual cards' cryptograms with an independent EMV
implementation (pyemv, https://github.com/knovichikhin/pyemv), from the
issuer master keys and the raw APDU trace of a transaction only.

Reads a JSON list on stdin, one entry per transaction:
  {"profile": name, "imk_ac": hex, "imk_smi": hex, "trace": [[cmd, resp], ...]}
For every GENERATE AC answer (and every quick-chip GET PROCESSING OPTIONS
answer that carries an AC) it recomputes the cryptogram by the version
the card's IAD names; for every issuer authentication (EXTERNAL
AUTHENTICATE data or tag 91 in the second GENERATE AC) the ARPC; for every
issuer script command (CLA 84) its MAC. Prints one JSON summary line and
exits 1 on the first disagreement. Nothing here is shared with the Rust
code: the trace is parsed from the bytes by pyemv's TLV decoder.
"""
import json
import sys
import warnings

warnings.simplefilter("ignore")  # pyemv's TripleDES deprecation notices

from pyemv import ac, cvn, kd, sm, tlv, tools  # noqa: E402


def pboc_session_key(mk: bytes, atc: bytes) -> bytes:
    """JR/T 0025 process key: DES3(MK)[0..0||ATC] || DES3(MK)[0..0||~ATC]."""
    inv = bytes(b ^ 0xFF for b in atc)
    left = tools.encrypt_tdes_ecb(mk, b"\0" * 6 + atc)
    right = tools.encrypt_tdes_ecb(mk, b"\0" * 6 + inv)
    return tools.adjust_key_parity(left + right)


def parse_dol(dol: bytes):
    """[(tag hex, length)] of a DOL."""
    out, i = [], 0
    while i < len(dol):
        j = i + 1
        if dol[i] & 0x1F == 0x1F:
            while dol[j] & 0x80:
                j += 1
            j += 1
        out.append((dol[i:j].hex().upper(), dol[j]))
        i = j + 1
    return out


def split_dol(dol, data: bytes):
    vals, i = {}, 0
    for tag, n in dol:
        vals[tag] = data[i : i + n]
        i += n
    if i != len(data):
        raise ValueError("DOL data length mismatch")
    return vals


def flat(obj, into):
    for k, v in obj.items():
        if isinstance(v, dict):
            flat(v, into)
        else:
            into[k.upper()] = v
    return into


def decode(resp: bytes):
    body = resp[:-2]
    if not body:
        return {}
    return {k.upper(): v for k, v in tlv.decode(body, flatten=True).items()}


class Card:
    """What the trace shows of the card: selected AID, records, AIP."""

    def __init__(self):
        self.aid = None
        self.data = {}

    def see(self, cmd: bytes, resp: bytes):
        if resp[-2:] != b"\x90\x00":
            return
        if cmd[:2] == b"\x00\xa4" and cmd[2] == 0x04:
            fci = decode(resp)
            if "84" in fci and not fci["84"][1:].startswith(b"PAY.SYS"):
                self.aid = fci["84"]
                self.data["9F38"] = fci.get("9F38", b"")
        elif cmd[:2] == b"\x00\xb2":
            self.data.update(decode(resp))
        elif cmd[:2] == b"\x80\xa8":
            d = decode(resp)
            if "80" in d:
                self.data["82"] = d["80"][:2]
            elif "82" in d:
                self.data["82"] = d["82"]

    @property
    def pan(self):
        return self.data["5A"].hex().upper().rstrip("F")

    @property
    def psn(self):
        return self.data.get("5F34", b"\0").hex()


def genac_answer(resp: bytes):
    d = decode(resp)
    if "80" in d:
        v = d["80"]
        return {"9F27": v[:1], "9F36": v[1:3], "9F26": v[3:11], "9F10": v[11:]}
    return d


class Version:
    """One cryptogram version, by pyemv's classes where it has them."""

    def __init__(self, scheme, iad, imk_ac, imk_smi, pan, psn):
        self.scheme = scheme
        if scheme == "visa":
            self.number = iad[2]
            cls = {0x0A: cvn.VisaCVN10, 0x12: cvn.VisaCVN18}[self.number]
        elif scheme == "mastercard":
            self.number = iad[1]
            cls = {0x10: cvn.MasterCardCVN16}[self.number]
        else:
            self.number = iad[2]
            if self.number != 0x01:
                raise KeyError(self.number)
            cls = None
        self.imk_ac, self.imk_smi, self.pan, self.psn = imk_ac, imk_smi, pan, psn
        if cls is not None:
            self.impl = cls(imk_ac, imk_smi, imk_smi, pan, psn)
        else:
            self.mk_ac = kd.derive_icc_mk_a(imk_ac, pan, psn)
            self.mk_smi = kd.derive_icc_mk_a(imk_smi, pan, psn)

    def name(self):
        return f"{self.scheme} CVN {self.number:#04x}"

    def ac(self, t):
        base = dict(
            tag_9f02=t["9F02"], tag_9f03=t["9F03"], tag_9f1a=t["9F1A"], tag_95=t["95"],
            tag_5f2a=t["5F2A"], tag_9a=t["9A"], tag_9c=t["9C"], tag_9f37=t["9F37"],
            tag_82=t["82"], tag_9f36=t["9F36"],
        )
        iad = t["9F10"]
        if self.scheme == "visa" and self.number == 0x0A:
            return self.impl.generate_ac(**base, cvr=iad[3:7])
        if self.scheme == "visa":
            return self.impl.generate_ac(**base, tag_9f10=iad)
        if self.scheme == "mastercard":
            return self.impl.generate_ac(**base, cvr=iad[2:8])
        data = b"".join(base.values()) + iad[3:7]
        return ac.generate_ac(pboc_session_key(self.mk_ac, t["9F36"]), data)

    def check_arpc(self, arqc, atc, d91):
        """(expected, got) for the ARPC in issuer authentication data."""
        if self.scheme == "visa" and self.number == 0x12:
            return self.impl.generate_arpc(arqc, atc, d91[4:8], d91[8:] or None), d91[:4]
        if self.scheme == "unionpay":
            sk = pboc_session_key(self.mk_ac, atc)
            return ac.generate_arpc_1(sk, arqc, d91[8:10]), d91[:8]
        return self.impl.generate_arpc(arqc, d91[8:10]), d91[:8]

    def script_mac(self, header, arqc, atc, data):
        if self.scheme == "unionpay":
            sk = pboc_session_key(self.mk_smi, atc)
            return sm.generate_command_mac(sk, header + atc + arqc + data)
        return self.impl.generate_command_mac(header, arqc, atc, data)


def scheme_of(aid: bytes):
    rid = aid[:5].hex().upper()
    return {"A000000003": "visa", "A000000004": "mastercard", "A000000333": "unionpay"}[rid]


def t0_merged(trace):
    """Undoes T=0 transport: a 61xx answer takes the data of the GET
    RESPONSE that follows; a 6Cxx answer is dropped (the command is re-sent
    with the right Le)."""
    out = []
    for cmd_hex, resp_hex in trace:
        cmd, resp = bytes.fromhex(cmd_hex), bytes.fromhex(resp_hex)
        if resp[:1] == b"\x6c" and len(resp) == 2:
            continue
        if cmd[:2] == b"\x00\xc0" and out and out[-1][1][:1] == b"\x61":
            out[-1] = (out[-1][0], resp)
            continue
        out.append((cmd, resp))
    return out


def check(entry, counts):
    card = Card()
    imk_ac, imk_smi = bytes.fromhex(entry["imk_ac"]), bytes.fromhex(entry["imk_smi"])
    first = None  # (version, arqc, atc) of the first GENERATE AC
    acs = [bytes.fromhex(a) for a in entry.get("acs", [])]
    genacs = 0
    trace = t0_merged(entry["trace"])
    # A quick-chip card answers its AC before its records are read: the
    # PAN it was computed for comes later in the trace.
    for cmd, resp in trace:
        if cmd[:2] == b"\x00\xb2":
            card.see(cmd, resp)
    for cmd, resp in trace:
        card.see(cmd, resp)
        gpo_ac = cmd[:2] == b"\x80\xa8" and "9F26" in decode(resp)
        if (cmd[:2] == b"\x80\xae" or gpo_ac) and resp[-2:] == b"\x90\x00":
            data = cmd[5 : 5 + cmd[4]]
            if gpo_ac:
                # Quick chip (qVSDC, qPBOC): the card computed its AC over
                # the PDOL data, sent in tag 83 of GET PROCESSING OPTIONS.
                counts["in_gpo"] += 1
                head = 3 if data[1] == 0x81 else 2
                dol, data = parse_dol(card.data["9F38"]), data[head:]
            else:
                dol = parse_dol(card.data["8C" if first is None else "8D"])
            t = split_dol(dol, data)
            t.update(genac_answer(resp))
            t["82"] = card.data["82"]
            if "9F26" not in t:
                # CDA: the AC is inside the signature; take the one the
                # kernel recovered and recompute it here.
                t["9F26"] = acs[genacs]
                counts["signed"] += 1
            genacs += 1
            v = Version(scheme_of(card.aid), t["9F10"], imk_ac, imk_smi, card.pan, card.psn)
            got, want = t["9F26"], v.ac(t)
            if got != want:
                raise AssertionError(f"{entry['profile']}: {v.name()} AC {got.hex()} != {want.hex()}")
            counts["cryptograms"] += 1
            counts["versions"].add(v.name())
            if "91" in t and first is not None and any(t["91"]):
                exp, got = first[0].check_arpc(first[1], first[2], t["91"])
                if exp != got:
                    raise AssertionError(f"{entry['profile']}: ARPC {got.hex()} != {exp.hex()}")
                counts["arpcs"] += 1
            if first is None:
                first = (v, t["9F26"], t["9F36"])
        elif cmd[:2] == b"\x00\x82" and first is not None:
            d91 = cmd[5 : 5 + cmd[4]]
            exp, got = first[0].check_arpc(first[1], first[2], d91)
            if exp != got:
                raise AssertionError(f"{entry['profile']}: ARPC {got.hex()} != {exp.hex()}")
            counts["arpcs"] += 1
        elif cmd[0] == 0x84 and first is not None:
            header, body = cmd[:5], cmd[5 : 5 + cmd[4]]
            data, mac = body[:-8], body[-8:]
            want = first[0].script_mac(header, first[1], first[2], data)
            ok = resp[-2:] == b"\x90\x00"
            if (mac == want) != ok:
                raise AssertionError(f"{entry['profile']}: script MAC {mac.hex()} (card said {resp.hex()}), expected {want.hex()}")
            counts["script_macs" if ok else "bad_macs_refused"] += 1


def main():
    entries = json.load(sys.stdin)
    counts = {"in_gpo": 0, "signed": 0, "cryptograms": 0, "arpcs": 0, "script_macs": 0, "bad_macs_refused": 0, "versions": set()}
    for e in entries:
        check(e, counts)
    counts["versions"] = sorted(counts["versions"])
    counts["transactions"] = len(entries)
    print(json.dumps(counts))


if __name__ == "__main__":
    try:
        main()
    except (AssertionError, KeyError, ValueError) as err:
        print(f"MISMATCH: {err!r}", file=sys.stderr)
        sys.exit(1)
