#!/usr/bin/env python3
"""Draws tillpoint's icon (a till drawer with a receipt coming out) as PNGs
at the usual hicolor sizes into assets/icons/, and as an SVG.

Run from the repository root: python3 packaging/icons.py. Standard library
only: shapes are sampled 4x4 per pixel and written with zlib."""
import struct
import zlib

# (x, y, w, h, radius, colour) on a 256-unit canvas, drawn in order.
GREEN, WHITE, GOLD, AMBER = (31, 111, 92), (255, 255, 255), (242, 193, 78), (217, 154, 30)
RECTS = [
    (0, 0, 256, 256, 48, GREEN),
    (78, 28, 100, 92, 6, WHITE),
    (94, 48, 68, 8, 3, GREEN),
    (94, 66, 52, 8, 3, GREEN),
    (94, 84, 60, 8, 3, GREEN),
    (36, 112, 184, 104, 14, GOLD),
    (36, 172, 184, 44, 10, AMBER),
    (108, 186, 40, 14, 7, GREEN),
    (160, 130, 44, 20, 5, GREEN),
]
CIRCLES = [(76, 140, 10, GREEN), (108, 140, 10, GREEN), (140, 140, 10, GREEN)]


def inside_rect(px, py, r):
    x, y, w, h, rad, _ = r
    if not (x <= px < x + w and y <= py < y + h):
        return False
    cx = min(max(px, x + rad), x + w - rad)
    cy = min(max(py, y + rad), y + h - rad)
    return (px - cx) ** 2 + (py - cy) ** 2 <= rad * rad


def colour_at(px, py):
    out = None
    for r in RECTS:
        if inside_rect(px, py, r):
            out = r[5]
    for cx, cy, rad, col in CIRCLES:
        if (px - cx) ** 2 + (py - cy) ** 2 <= rad * rad:
            out = col
    return out


def render(size):
    rows = []
    n = 4
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            acc = [0, 0, 0, 0]
            for sy in range(n):
                for sx in range(n):
                    px = (x + (sx + 0.5) / n) * 256 / size
                    py = (y + (sy + 0.5) / n) * 256 / size
                    c = colour_at(px, py)
                    if c:
                        acc[0] += c[0]
                        acc[1] += c[1]
                        acc[2] += c[2]
                        acc[3] += 255
            cover = acc[3] / 255
            if cover:
                row += bytes([round(acc[0] / cover), round(acc[1] / cover), round(acc[2] / cover), round(acc[3] / (n * n))])
            else:
                row += bytes(4)
        rows.append(bytes(row))
    return b"".join(rows)


def png(size, pixels):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(pixels, 9)) + chunk(b"IEND", b"")


def svg():
    hexc = lambda c: "#%02x%02x%02x" % c
    parts = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">']
    for x, y, w, h, rad, c in RECTS:
        parts.append(f'  <rect x="{x}" y="{y}" width="{w}" height="{h}" rx="{rad}" fill="{hexc(c)}"/>')
    for cx, cy, rad, c in CIRCLES:
        parts.append(f'  <circle cx="{cx}" cy="{cy}" r="{rad}" fill="{hexc(c)}"/>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    for size in (16, 24, 32, 48, 64, 128, 256):
        with open(f"assets/icons/tillpoint-{size}.png", "wb") as f:
            f.write(png(size, render(size)))
    with open("assets/icons/tillpoint.svg", "w") as f:
        f.write(svg())
