"""The rate-distortion codec's arithmetic on samples, as compiled kernels over a range of rows.

Decoding a plane is its smooth base (the means grid interpolated) plus each
block's codeword less 128; the image is the planes through the inverse
colour transform. The encoder runs the same kernels to know what it wrote,
and two of its own: the forward colour transform and the residuals it
quantizes. Every kernel works on rows start..stop-1 of its output, so that
the rows can be shared among threads (vqcodec.train.rows) and the result
does not depend on how many there are. Integer arithmetic as docs/format.md
specifies it, except in the forward transform, which is the encoder's choice.
"""
import numpy as np
from numba import njit

ZERO = 128  # a codeword sample of 128 adds nothing to the base
CHUNK = 64  # rows whose base or chroma a kernel interpolates at once: memory follows the chunk, not the slice
# JPEG's YCbCr (ITU-R BT.601, full range) in 16.16 fixed point, as libjpeg rounds it
_CR_R, _CB_G, _CR_G, _CB_B = 91881, 22554, 46802, 116130


@njit(cache=True, nogil=True, inline="always")
def _byte(value):
    """An int32 clipped to a byte's range, in int32: the loops that use it vectorise."""
    return min(max(value, np.int32(0)), np.int32(255))


def axis(n: int, cell: int, cells: int) -> np.ndarray:
    """For each of n positions along an axis: the cell before it, the cell after it, and the weight of
    the one after in 1/(2 cell) units (a 3 x n int32 array). Cell i's centre is at position
    cell*i + (cell-1)/2; positions before the first centre or after the last take that cell alone."""
    t = 2 * np.arange(n, dtype=np.int64) - (cell - 1)  # twice the distance from cell 0's centre
    before = np.floor_divide(t, 2 * cell)
    weight = t - 2 * cell * before
    weight[t < 0] = 0
    before = np.clip(before, 0, cells - 1)
    weight[before == cells - 1] = 0
    after = np.minimum(before + 1, cells - 1)
    return np.stack([before, after, weight]).astype(np.int32)


CUBIC_ONE = 128  # the cubic base's weights along an axis sum to this


def taps(n: int, cell: int, cells: int, cubic: bool) -> np.ndarray:
    """The interpolation of n positions along an axis as four taps (an 8 x n int32 array: four cells,
    in increasing order, then their weights): linear between the two cell centres around each position
    (weights in 1/(2 cell), the last two 0), or with `cubic` Catmull-Rom's cubic through the four cell
    centres around it (weights in 1/128, the integer formulas of docs/format.md)."""
    before, after, f = axis(n, cell, cells).astype(np.int64)
    if not cubic:
        zero = np.zeros_like(f)
        return np.stack([before, after, after, after, 2 * cell - f, f, zero, zero]).astype(np.int32)
    d = 2 * cell
    cube, half = d ** 3, d ** 3 // 2
    outer_before = (64 * f * (d - f) ** 2 + half) // cube
    outer_after = (64 * f * f * (d - f) + half) // cube
    inner_after = (64 * f * (4 * f * d + d * d - 3 * f * f) + half) // cube
    inner_before = CUBIC_ONE - inner_after + outer_before + outer_after
    return np.stack([np.maximum(before - 1, 0), before, after, np.minimum(after + 1, cells - 1),
                     -outer_before, inner_before, inner_after, -outer_after]).astype(np.int32)


def base_tables(height: int, width: int, cell: int, cells: tuple[int, int], cubic: bool) -> tuple:
    """What the kernels take to interpolate a grid of `cells` (rows, columns) of side `cell` over a plane:
    the rows' and the columns' taps, how many of the four count, and the rounding: (sum + area / 2) /
    area, a shift right when area is a power of two (-1: a division)."""
    one = CUBIC_ONE if cubic else 2 * cell
    area = one * one
    shift = area.bit_length() - 1 if area & (area - 1) == 0 else -1
    return (taps(height, cell, cells[0], cubic), taps(width, cell, cells[1], cubic), 4 if cubic else 2, shift,
            area)


def last_cell(table: np.ndarray, position: int) -> int:
    """The last cell that a position's interpolation reads along an axis (a `taps` table)."""
    return int(table[3, position])


@njit(cache=True, nogil=True, inline="always")
def _interpolate(grid, rows, cols, y, x, count, shift, area):
    """The base at (y, x), rounded as docs/format.md says: the dividing is a shift when the area is a
    power of two (shift >= 0), as it is for every file vqcodec writes; a division costs far more."""
    total = area // 2
    for k in range(count):
        along = 0
        for m in range(count):
            along += cols[4 + m, x] * grid[rows[k, y], cols[m, x]]
        total += rows[4 + k, y] * along
    return total >> shift if shift >= 0 else total // area


@njit(cache=True, nogil=True)
def _rows_along(plane, first, last, cols, count, left, width, offset):
    """The base's horizontal step for rows first..last of a grid (or of a chroma plane), at the columns
    left..left+width-1: each row's taps weighted, not yet rounded (see _interpolate); the vertical step
    (_down) then makes a row of samples from them without a table look-up per sample. `plane` holds
    the grid's rows from `offset` on."""
    along = np.empty((last - first + 1, width), dtype=np.int32)
    c = cols[:, left : left + width]
    for i in range(first, last + 1):
        row, out = plane[i - offset], along[i - first]
        if count == 2:
            for x in range(width):
                out[x] = c[4, x] * np.int32(row[c[0, x]]) + c[5, x] * np.int32(row[c[1, x]])
        else:
            for x in range(width):
                out[x] = (c[4, x] * np.int32(row[c[0, x]]) + c[5, x] * np.int32(row[c[1, x]])
                          + c[6, x] * np.int32(row[c[2, x]]) + c[7, x] * np.int32(row[c[3, x]]))
    return along


@njit(cache=True, nogil=True)
def _down(along, rows, y, first, count, shift, area, line):
    """Row y of the base into `line`: the rows of `along` (whose row 0 is grid row `first`) that row y's
    taps name, weighted and rounded."""
    a, b = along[rows[0, y] - first], along[rows[1, y] - first]
    wa, wb, half = np.int32(rows[4, y]), np.int32(rows[5, y]), np.int32(area // 2)  # int32 throughout: it vectorises
    if count == 4:  # the cubic base, whose area (128^2) is always a power of two
        c, d = along[rows[2, y] - first], along[rows[3, y] - first]
        wc, wd, s = np.int32(rows[6, y]), np.int32(rows[7, y]), np.int32(shift)
        for x in range(line.shape[0]):
            line[x] = (wa * a[x] + wb * b[x] + wc * c[x] + wd * d[x] + half) >> s
    elif shift >= 0:
        s = np.int32(shift)
        for x in range(line.shape[0]):
            line[x] = (wa * a[x] + wb * b[x] + half) >> s
    else:
        divisor = np.int32(area)
        for x in range(line.shape[0]):
            line[x] = (wa * a[x] + wb * b[x] + half) // divisor


@njit(cache=True, nogil=True)
def reconstruct_rows(start, stop, out, top, left, width, grid, rows, cols, count, shift, area, codebook, indices,
                     block):
    """Rows start..stop-1 of a box of a plane, `width` samples from column `left`, into `out`, whose row 0
    is the plane's row `top`: the base of `grid` (the plane's means, min(q x step, 255), int32) plus
    codeword indices[block row, block column] less 128 (blocks counted from the box's top left),
    clipped to a byte. `rows` to `area` are the plane's `base_tables`."""
    base = np.empty(width, dtype=np.int32)
    words = codebook.ravel()
    size = block * block
    for y in range(start, stop):
        if y == start or (y - start) % CHUNK == 0:  # the horizontal step for the grid rows of the next rows
            first = rows[0, top + y]
            along = _rows_along(grid, first, rows[3, top + min(y + CHUNK, stop) - 1], cols, count, left, width, 0)
        _down(along, rows, top + y, first, count, shift, area, base)
        by = y // block
        row, labels, offset = out[y, left : left + width], indices[by], (y - by * block) * block
        whole = width // block
        if block == 2:  # the default: a block row's two samples written out (a loop over them does not vectorise)
            for bx in range(whole):
                at = np.int64(labels[bx]) * 4 + offset
                row[2 * bx] = _plus_codeword(base[2 * bx], words[at])
                row[2 * bx + 1] = _plus_codeword(base[2 * bx + 1], words[at + 1])
        else:
            for bx in range(whole):
                at = np.int64(labels[bx]) * size + offset
                for dx in range(block):
                    row[bx * block + dx] = _plus_codeword(base[bx * block + dx], words[at + dx])
        if whole * block < width:  # a block cut by the box's right edge
            at = np.int64(labels[whole]) * size + offset
            for x in range(whole * block, width):
                row[x] = _plus_codeword(base[x], words[at + x - whole * block])


@njit(cache=True, nogil=True, inline="always")
def _plus_codeword(base, word):
    """A sample: the base plus a codeword's sample less 128, clipped to a byte."""
    return _byte(base + np.int32(word) - np.int32(ZERO))


@njit(cache=True, nogil=True)
def residual_blocks(start, stop, vectors, first, positions, plane, top, height, grid, rows, cols, count, shift, area,
                    block):
    """The encoder's residuals: vector i (start <= i < stop) of block positions[i] of the plane, or of
    block first + i when there are no positions: each sample less the base, plus 128, clipped to a
    byte, row by row. `plane` holds the plane's rows from `top` on (whole blocks), of the `height` the
    plane has; blocks that reach past the plane repeat its last row and column. Runs of blocks along a
    row take the base a row of samples at a time, as the decoder makes it (reconstruct_rows), rather
    than sample by sample."""
    width = plane.shape[1]
    across = (width + block - 1) // block
    if positions.shape[0] == 0:
        line = np.empty(width, dtype=np.int32)  # a row of the base, from column `left` on
        along = np.empty((0, width), dtype=np.int32)
        made = (-1, -1, -1, -1)  # the grid rows and columns `along` holds: rows of blocks in one cell share it
        i = start
        while i < stop:  # a run: the blocks of one row of blocks
            by, bx = (first + i) // across, (first + i) % across
            end = min(stop, i + across - bx)
            left, right = bx * block, min((bx + end - i) * block, width)
            y0, y1 = min(by * block, height - 1), min(by * block + block - 1, height - 1)
            if made != (rows[0, y0], rows[3, y1], left, right):
                along = _rows_along(grid, rows[0, y0], rows[3, y1], cols, count, left, right - left, 0)
                made = (rows[0, y0], rows[3, y1], left, right)
            for dy in range(block):
                y = min(by * block + dy, height - 1)
                _down(along, rows, y, made[0], count, shift, area, line[: right - left])
                samples = plane[y - top, left:right]
                if block == 2 and right - left == 2 * (end - i):  # the default, no column past the plane's
                    for j in range(end - i):  # edge: written out over slices from 0, which vectorises
                        vectors[i + j, 2 * dy] = _byte(np.int32(samples[2 * j]) - line[2 * j] + np.int32(ZERO))
                        vectors[i + j, 2 * dy + 1] = _byte(np.int32(samples[2 * j + 1]) - line[2 * j + 1]
                                                           + np.int32(ZERO))
                    continue
                for j in range(i, end):
                    for dx in range(block):
                        x = min((bx + j - i) * block + dx, width - 1)
                        value = np.int32(plane[y - top, x]) - line[x - left] + ZERO
                        vectors[j, dy * block + dx] = min(max(value, 0), 255)
            i = end
        return
    for i in range(start, stop):
        n = positions[i]
        by, bx = n // across, n % across
        for dy in range(block):
            y = min(by * block + dy, height - 1)
            for dx in range(block):
                x = min(bx * block + dx, width - 1)
                value = np.int32(plane[y - top, x]) - _interpolate(grid, rows, cols, y, x, count, shift, area) + ZERO
                vectors[i, dy * block + dx] = min(max(value, 0), 255)


@njit(cache=True, nogil=True)
def merge_rows(start, stop, out, top, left, luma, cb, cr, rows, cols, count, shift, area, luma_top, chroma_top):
    """Rows start..stop-1 of `out` (C-contiguous), the RGB pixels of a box of the image whose top left
    pixel is (top, left), from YCbCr planes: the chroma planes interpolated to the image's size (linearly,
    in cells of 2 x 2 samples for 4:2:0, 1 x 1 for 4:4:4: `rows` to `area` are their `base_tables`), then
    JPEG's inverse transform. The planes may be bands: `luma` holds the luma plane's rows from `luma_top`
    on, `cb` and `cr` the chroma planes' from `chroma_top`."""
    width = out.shape[1]
    blue, red = np.empty(width, dtype=np.int32), np.empty(width, dtype=np.int32)
    for y in range(start, stop):
        if y == start or (y - start) % CHUNK == 0:  # the horizontal step for the chroma rows of the next rows
            first, last = rows[0, top + y], rows[3, top + min(y + CHUNK, stop) - 1]
            blues = _rows_along(cb, first, last, cols, count, left, width, chroma_top)
            reds = _rows_along(cr, first, last, cols, count, left, width, chroma_top)
        _down(blues, rows, top + y, first, count, shift, area, blue)
        _down(reds, rows, top + y, first, count, shift, area, red)
        lumas, rgb = luma[top + y - luma_top, left:], out[y].reshape(-1)  # r, g, b of pixel x at 3x, 3x + 1, 3x + 2
        for x in range(width):  # in int32 (no product reaches 2^31), which vectorises
            lum, b, r = np.int32(lumas[x]), blue[x] - np.int32(128), red[x] - np.int32(128)
            rgb[3 * x] = _byte(lum + ((np.int32(_CR_R) * r + np.int32(32768)) >> np.int32(16)))
            green = -np.int32(_CB_G) * b - np.int32(_CR_G) * r
            rgb[3 * x + 1] = _byte(lum + ((green + np.int32(32768)) >> np.int32(16)))
            rgb[3 * x + 2] = _byte(lum + ((np.int32(_CB_B) * b + np.int32(32768)) >> np.int32(16)))


@njit(cache=True, nogil=True, inline="always")
def _chroma_terms(pixels, y, x):
    """A pixel's Cb and Cr before rounding."""
    r, g, b = np.float64(pixels[y, x, 0]), np.float64(pixels[y, x, 1]), np.float64(pixels[y, x, 2])
    return 128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b, 128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b


@njit(cache=True, nogil=True)
def split_rows(start, stop, pixels, luma, cb, cr, half):
    """The encoder's forward transform of pixel rows start..stop-1 (start even when `half`): JPEG's
    YCbCr rounded to bytes, the chroma of 2 x 2 pixels averaged when `half` (4:2:0; edge cells repeat
    their last row or column)."""
    height, width = pixels.shape[0], pixels.shape[1]
    for y in range(start, stop):
        for x in range(width):
            r, g, b = np.float64(pixels[y, x, 0]), np.float64(pixels[y, x, 1]), np.float64(pixels[y, x, 2])
            luma[y, x] = min(max(np.rint(0.299 * r + 0.587 * g + 0.114 * b), 0.0), 255.0)
        if not half:
            for x in range(width):
                blue, red = _chroma_terms(pixels, y, x)
                cb[y, x] = min(max(np.rint(blue), 0.0), 255.0)
                cr[y, x] = min(max(np.rint(red), 0.0), 255.0)
            continue
        if y % 2:
            continue
        below = min(y + 1, height - 1)
        for cx in range((width + 1) // 2):
            x0 = 2 * cx
            x1 = min(x0 + 1, width - 1)
            blue, red = _chroma_terms(pixels, y, x0)  # summed pixel by pixel, row by row: the same rounding
            more = _chroma_terms(pixels, y, x1)
            blue, red = blue + more[0], red + more[1]
            more = _chroma_terms(pixels, below, x0)
            blue, red = blue + more[0], red + more[1]
            more = _chroma_terms(pixels, below, x1)
            blue, red = blue + more[0], red + more[1]
            cb[y // 2, cx] = min(max(np.rint(blue / 4), 0.0), 255.0)
            cr[y // 2, cx] = min(max(np.rint(red / 4), 0.0), 255.0)


# --- the restoration filter (version 4's plane tool FILTER) ----------------------------------------

WEIGHT_ONE = 64  # the filter's weights are in 1/64; its taps are the neighbour pairs along (0, 1), (1, 0), (1, 1), (1, -1)


@njit(cache=True, nogil=True, inline="always")
def _terms(up, mid, down, x, first, last):
    """For the sample at column x of row `mid`, between rows `up` and `down` (the rows above and below,
    clamped to its tile): c and a + b - 2c for each tap, columns clamped to first..last (its tile's)."""
    return _terms_between(up, mid, down, x, max(x - 1, first), min(x + 1, last))


@njit(cache=True, nogil=True, inline="always")
def _terms_between(up, mid, down, x, left, right):
    """_terms with the columns on either side given, unclamped: a loop of them vectorises."""
    c = np.int32(mid[x])
    return (c, np.int32(mid[left]) + np.int32(mid[right]) - 2 * c, np.int32(up[x]) + np.int32(down[x]) - 2 * c,
            np.int32(up[left]) + np.int32(down[right]) - 2 * c, np.int32(up[right]) + np.int32(down[left]) - 2 * c)


@njit(cache=True, nogil=True, inline="always")
def _filtered(up, mid, down, x, first, last, w0, w1, w2, w3):
    c, f0, f1, f2, f3 = _terms(up, mid, down, x, first, last)
    return _filtered_terms(c, f0, f1, f2, f3, w0, w1, w2, w3)


@njit(cache=True, nogil=True, inline="always")
def _filtered_terms(c, f0, f1, f2, f3, w0, w1, w2, w3):
    """A sample through the filter, from _terms' c and neighbour terms (format.md's formula)."""
    return _byte((np.int32(WEIGHT_ONE) * c + np.int32(32) + w0 * f0 + w1 * f1 + w2 * f2 + w3 * f3) >> np.int32(6))


@njit(cache=True, nogil=True, inline="always")
def _rows_around(source, source_top, y, height, tile):
    """Rows y - 1, y and y + 1 of `source` (which holds the plane's rows from `source_top` on), the first
    and the last clamped to the tile's rows."""
    top = y // tile * tile
    bottom = min(top + tile, height) - 1
    return (source[max(y - 1, top) - source_top], source[y - source_top],
            source[min(y + 1, bottom) - source_top])


@njit(cache=True, nogil=True)
def filter_rows(start, stop, out, out_top, source, source_top, height, left, right, weights, unit, tile):
    """Rows start..stop-1 of `out`, which holds the plane's rows from `out_top` on, at columns left..right-1:
    the restoration filter of the unfiltered samples in `source` (the plane's rows from `source_top` on,
    every column, with the rows above and below those that their tiles have). A sample c of filter unit
    (y // unit, x // unit), whose weights are w, becomes (64 c + sum of w_i (a_i + b_i - 2 c) + 32) >> 6,
    clipped to a byte, with a_i and b_i its neighbours along tap i, in its tile of side `tile`
    (coordinates clamped to the tile); weights of 0 leave it as it is."""
    width = source.shape[1]
    for i in range(start, stop):
        y = out_top + i
        up, mid, down = _rows_around(source, source_top, y, height, tile)
        row, units = out[i], weights[y // unit]
        x = left
        while x < right:
            first = x // tile * tile
            last = min(first + tile, width) - 1
            end = min((x // unit + 1) * unit, last + 1, right)
            w = units[x // unit]
            w0, w1, w2, w3 = w[0], w[1], w[2], w[3]
            if w0 == 0 and w1 == 0 and w2 == 0 and w3 == 0:
                for xx in range(x, end):
                    row[xx] = mid[xx]
            else:
                inner_start, inner_end = max(x, first + 1), max(min(end, last), x)  # no column clamped between
                for xx in range(x, min(inner_start, end)):
                    row[xx] = _filtered(up, mid, down, xx, first, last, w0, w1, w2, w3)
                if inner_end > inner_start:
                    _filter_run(row[inner_start:inner_end], up[inner_start - 1 : inner_end + 1],
                                mid[inner_start - 1 : inner_end + 1], down[inner_start - 1 : inner_end + 1],
                                w0, w1, w2, w3)
                for xx in range(max(inner_end, inner_start), end):
                    row[xx] = _filtered(up, mid, down, xx, first, last, w0, w1, w2, w3)
            x = end


@njit(cache=True, nogil=True, inline="always")
def _filter_run(out, up, mid, down, w0, w1, w2, w3):
    """filter_rows' samples where no column is clamped: out[i] from column i + 1 of the rows around it.
    Slices that start at 0 let the loop vectorise (an index below a slice's start would make every access
    check for wrapping around)."""
    w0, w1, w2, w3 = np.int32(w0), np.int32(w1), np.int32(w2), np.int32(w3)
    for i in range(len(out)):
        c, f0, f1, f2, f3 = _terms_between(up, mid, down, i + 1, i, i + 2)
        out[i] = _filtered_terms(c, f0, f1, f2, f3, w0, w1, w2, w3)


PRODUCTS = 15  # filter_statistics' sums per unit


@njit(cache=True, nogil=True, inline="always")
def _plus_products(sums, f0, f1, f2, f3, t):
    """The sums (a tuple of PRODUCTS int64) plus one sample's products, in filter_statistics' order."""
    return (sums[0] + f0 * f0, sums[1] + f0 * f1, sums[2] + f0 * f2, sums[3] + f0 * f3, sums[4] + f1 * f1,
            sums[5] + f1 * f2, sums[6] + f1 * f3, sums[7] + f2 * f2, sums[8] + f2 * f3, sums[9] + f3 * f3,
            sums[10] + f0 * t, sums[11] + f1 * t, sums[12] + f2 * t, sums[13] + f3 * t, sums[14] + t * t)


@njit(cache=True, nogil=True, inline="always")
def _no_products():
    zero = np.int64(0)
    return (zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero)


@njit(cache=True, nogil=True, inline="always")
def _add_to(s, sums):
    for k in range(PRODUCTS):
        s[k] += sums[k]


@njit(cache=True, nogil=True, inline="always")
def _add_products(up, mid, down, original, x0, x1, first, last, s):
    """filter_statistics' products for samples x0..x1-1 of a row, their columns clamped to first..last,
    added to a unit's sums `s`."""
    sums = _no_products()
    for x in range(x0, x1):
        c, f0, f1, f2, f3 = _terms(up, mid, down, x, first, last)
        sums = _plus_products(sums, f0, f1, f2, f3, np.int32(original[x]) - c)
    _add_to(s, sums)


@njit(cache=True, nogil=True)
def _add_inner_products(up, mid, down, original, s):
    """_add_products for samples whose columns are not clamped: original[i] is the sample at column i + 1
    of the rows around it. Slices that start at 0 let the loop vectorise (see _filter_run)."""
    sums = _no_products()
    for i in range(len(original)):
        c, f0, f1, f2, f3 = _terms_between(up, mid, down, i + 1, i, i + 2)
        sums = _plus_products(sums, f0, f1, f2, f3, np.int32(original[i]) - c)
    _add_to(s, sums)


@njit(cache=True, nogil=True)
def filter_statistics(stats, source, source_top, original, original_top, height, unit, tile):
    """The encoder's sums for choosing each unit's weights, over the rows of `original` (the plane's rows
    from `original_top` on, every column): per unit, the products of the four neighbour terms
    (a_i + b_i - 2 c) with one another (10) and with the error t = original - c (4), and t * t, exact
    in int64. `source` holds the unfiltered samples as filter_rows reads them. A row's samples go a
    unit's run at a time, its first and last sample in their tile apart (as filter_rows does)."""
    width = source.shape[1]
    for i in range(original.shape[0]):
        y = original_top + i
        up, mid, down = _rows_around(source, source_top, y, height, tile)
        units, row = stats[y // unit], original[i]
        x = 0
        while x < width:
            first = x // tile * tile
            last = min(first + tile, width) - 1
            end = min((x // unit + 1) * unit, last + 1)
            s = units[x // unit]
            inner_start, inner_end = max(x, first + 1), max(min(end, last), x)  # no column clamped between
            _add_products(up, mid, down, row, x, min(inner_start, end), first, last, s)
            if inner_end > inner_start:
                _add_inner_products(up[inner_start - 1 : inner_end + 1], mid[inner_start - 1 : inner_end + 1],
                                    down[inner_start - 1 : inner_end + 1], row[inner_start:inner_end], s)
            _add_products(up, mid, down, row, max(inner_end, inner_start), end, first, last, s)
            x = end


# --- the refinement layer (version 4's plane tool REFINE) -----------------------------------------


@njit(cache=True, nogil=True)
def refine_box(samples, first, top, left, bottom, right, q, tile_top, tile_left, step):
    """Samples top..bottom-1 x left..right-1 of `samples` (the plane's rows from `first` on, every column),
    each plus its quantized residual times the step, clipped to a byte. q is the refinement grid of the
    tile whose top left sample is (tile_top, tile_left): the residual of its sample (y, x) at q[1 + y, 1 + x]."""
    for y in range(top, bottom):
        row, residuals = samples[y - first], q[1 + y - tile_top]
        for x in range(left, right):
            row[x] = min(max(np.int32(row[x]) + np.int32(residuals[1 + x - tile_left]) * step, 0), 255)


@njit(cache=True, nogil=True, inline="always")
def _bits_of(m):
    """About how many bits a refinement residual of magnitude m costs: a zero is cheap where most are zero;
    otherwise its flag, sign, class in unary and the bits below its highest."""
    if m == 0:
        return 0.5
    return 4.0 + 2.0 * (np.int64(np.log2(m)))


@njit(cache=True, nogil=True)
def quantize_residuals(original, decoded, step, lam, q):
    """Each sample's residual original - decoded quantized with the step into the refinement grid q: the
    nearest multiple (halves towards 0), or the one below it when that saves more in bits, at lambda, than
    it adds in squared error; returns the squared error left once refine_box has added them."""
    quantized = np.empty(511, dtype=np.int64)  # of each residual -255..255 at [255 + residual]: a look-up per
    for e in range(-255, 256):  # sample rather than a division and a logarithm
        m = (2 * abs(e) + step - 1) // (2 * step)
        if m > 0:
            near, below = abs(e) - m * step, abs(e) - (m - 1) * step
            if below * below - near * near < lam * (_bits_of(m) - _bits_of(m - 1)):
                m -= 1
        quantized[255 + e] = m if e > 0 else -m
    error = np.int64(0)
    for y in range(original.shape[0]):
        for x in range(original.shape[1]):
            d = np.int64(decoded[y, x])
            v = quantized[255 + np.int64(original[y, x]) - d]
            q[1 + y, 1 + x] = v
            t = np.int64(original[y, x]) - min(max(d + v * step, 0), 255)
            error += t * t
    return error
