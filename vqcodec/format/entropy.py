"""Adaptive binary arithmetic coding of the index, codebook and means sections (.vqc versions 2 to 4).

docs/format.md specifies every step; this module is its implementation. Each
model is one kernel that both encodes and decodes (`decoding` chooses), so
the two directions cannot drift apart. Only integer arithmetic is used, so
every platform produces and reads the same bytes.

The coder is a carry-less binary arithmetic coder on 32-bit bounds. The
probabilities come from adaptive counters (16-bit probability, faster
adaptation while a counter is young); the index model mixes several
counters' predictions in the logistic domain with online-learned weights.
Version 4 codes each tile's indices and means as streams of their own, with
a leaner index model, and a tile's models start where another tile's ended
(`TileModels`), so that they need not learn the plane again.
"""
import numpy as np
from numba import njit

from ..errors import FormatError

# --- tables, built once from the 33 points the format lists --------------------------------

SQUASH_POINTS = (1, 2, 4, 6, 10, 17, 27, 45, 74, 120, 194, 311, 488, 747, 1102, 1546, 2048, 2550, 2994, 3349, 3608,
                 3785, 3902, 3976, 4022, 4051, 4069, 4079, 4086, 4090, 4092, 4094, 4095)
STRETCH_LIMIT = 2047


def _squash_table() -> np.ndarray:
    """squash(d) for d = -2047..2047, at index d + 2047: a 12-bit probability from a logit in 1/256 units."""
    d = np.arange(-STRETCH_LIMIT, STRETCH_LIMIT + 1)
    points = np.array(SQUASH_POINTS, dtype=np.int64)
    j, f = (d >> 7) + 16, d & 127
    return ((points[j] * (128 - f) + points[j + 1] * f + 64) >> 7).astype(np.int32)


SQUASH = _squash_table()
# stretch(p), squash's inverse: the smallest d with squash(d) >= p (squash(2047) = 4095, so there is one)
STRETCH = np.searchsorted(SQUASH, np.arange(4096)).astype(np.int32) - STRETCH_LIMIT

COUNTER_LIMIT = 30  # a counter's rate is 1 / (n + 1.5) for its first 30 updates, then 1 / 31.5
DIVISORS = np.array([131072 // (2 * n + 3) for n in range(COUNTER_LIMIT + 1)], dtype=np.int32)
COUNTER_START = 32768 << 8  # probability 1/2, no updates yet; a counter is (probability << 8) | n
WEIGHT_START = 16384  # mixer weights are 16.16 fixed point: 1/4
BIAS = 256  # the mixers' constant input
MAX_TABLE_BITS = 20  # a context table of the index model has at most 2^20 counters


# --- the coder ------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _code_bit(coder, buf, p12, bit, decoding):
    """Code one bit whose probability of being 1 is p12 / 4096; returns the bit (decoded or given) and
    the coder's new state.

    coder: (x1, x2, x (decoder only), bytes written or read), a tuple the kernels keep in registers
    (an array's elements would go to memory at every bit); `state` is the array that holds it between
    kernels (_loaded, _stored)."""
    x1, x2, x, pos = coder
    xmid = x1 + ((x2 - x1) >> 12) * p12
    if decoding:
        bit = 1 if x <= xmid else 0
    if bit:
        x2 = xmid
    else:
        x1 = xmid + 1
    while ((x1 ^ x2) & 0xFF000000) == 0:
        if decoding:
            x = ((x << 8) & 0xFFFFFFFF) | (buf[pos] if pos < buf.shape[0] else 0)
        elif pos < buf.shape[0]:
            buf[pos] = x2 >> 24
        pos += 1
        x1 = (x1 << 8) & 0xFFFFFFFF
        x2 = ((x2 << 8) & 0xFFFFFFFF) | 255
    return bit, (x1, x2, x, pos)


@njit(cache=True)
def _loaded(state):
    return state[0], state[1], state[2], state[3]


@njit(cache=True)
def _stored(state, coder, result):
    """Keep the coder's state in `state` for the caller; returns `result`."""
    state[0], state[1], state[2], state[3] = coder
    return result


def _start(payload: bytes | None, capacity: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(state, buffer) to encode into a buffer of `capacity` bytes, or to decode `payload`."""
    if payload is None:
        return np.array([0, 0xFFFFFFFF, 0, 0], dtype=np.int64), np.zeros(capacity, dtype=np.uint8)
    buf = np.frombuffer(payload, dtype=np.uint8).copy()  # writable: one kernel serves both directions
    first = int.from_bytes(bytes(payload[:4]).ljust(4, b"\0"), "big")
    return np.array([0, 0xFFFFFFFF, first, 4], dtype=np.int64), buf


def _tail(state: np.ndarray) -> bytes:
    """What the encoder writes after its last decision: nothing if x1 = 0, else the byte that
    starts a value between x1 and x2 (the decoder reads zeros past the end)."""
    x1 = int(state[0])
    return b"" if x1 == 0 else bytes([(x1 >> 24) + (1 if x1 & 0xFFFFFF else 0)])


def _finish(state: np.ndarray, buf: np.ndarray) -> bytes | None:
    """The encoded bytes, or None if they overflowed the buffer."""
    data = bytes(buf[: int(state[3])]) + _tail(state)
    return None if len(data) > len(buf) else data


def _check_end(state: np.ndarray, payload: bytes, what: str) -> None:
    """The stream must be exactly what an encoder writes for the decisions decoded: the bytes
    the decoder shifted in (it reads 4 ahead), then the final byte, and nothing else."""
    tail = _tail(state)
    end = int(state[3]) - 4 + len(tail)  # where an encoder's stream ends
    if end > len(payload):
        raise FormatError(f"the {what} stream is truncated")
    if end < len(payload):
        raise FormatError(f"the {what} stream has {len(payload) - end} byte(s) after its end")
    if tail and payload[-1:] != tail:
        raise FormatError(f"the {what} stream does not end as an encoder ends it")


# --- counters and mixers --------------------------------------------------------------------


@njit(cache=True)
def _p12(counter):
    """A counter's probability of a 1, in 12 bits, at least 1."""
    return max(counter >> 12, 1)


@njit(cache=True)
def _update(table, j, bit, divisors):
    counter = table[j]
    n = counter & 255
    p = counter >> 8
    d = divisors[n]
    if bit:
        p += ((65536 - p) * d) >> 16
    else:
        p -= (p * d) >> 16
    table[j] = (p << 8) | min(n + 1, divisors.shape[0] - 1)


@njit(cache=True)
def _mix(weights, at, s0, s1, s2, s3, s4, squash):
    """Mixed 12-bit probability of the inputs (logits) with the weights at weights[at : at + 5], 16.16 fixed point."""
    dot = (np.int64(weights[at]) * s0 + np.int64(weights[at + 1]) * s1 + np.int64(weights[at + 2]) * s2
           + np.int64(weights[at + 3]) * s3 + np.int64(weights[at + 4]) * s4) >> 16
    return np.int64(squash[min(max(dot, -2047), 2047) + 2047])


@njit(cache=True)
def _learn(weights, at, s0, s1, s2, s3, s4, p12, bit):
    """Move each weight by its input times the error; weights are 32-bit and wrap around."""
    err = (bit << 12) - p12
    weights[at] = weights[at] + ((s0 * err) >> 10)
    weights[at + 1] = weights[at + 1] + ((s1 * err) >> 10)
    weights[at + 2] = weights[at + 2] + ((s2 * err) >> 10)
    weights[at + 3] = weights[at + 3] + ((s3 * err) >> 10)
    weights[at + 4] = weights[at + 4] + ((s4 * err) >> 10)


# --- the index model --------------------------------------------------------------------------


def index_tables(k: int) -> tuple:
    """The index model's counters and weights for a codebook of k, in their starting state.

    Allocated here rather than in the kernel, so that their size (set by the
    validated header alone, at most about 13 MiB) is visible to the caller."""
    w = (k - 1).bit_length()
    cbits = min(w, MAX_TABLE_BITS - w)
    contexts = np.full(3 << (cbits + w), COUNTER_START, dtype=np.int32)  # the left, above and above-right tables
    order0 = np.full(1 << w, COUNTER_START, dtype=np.int32)
    flags = np.full(16, COUNTER_START, dtype=np.int32)
    candidates = np.full(4 * k, COUNTER_START, dtype=np.int32)
    tree_weights = np.full(4 * max(w, 1) * 5, WEIGHT_START, dtype=np.int32)  # 5 per mixer
    flag_weights = np.full(16 * 5, WEIGHT_START, dtype=np.int32)  # 3 used per mixer, 5 for one mixing code
    return contexts, order0, flags, candidates, tree_weights, flag_weights


@njit(cache=True, nogil=True)
def _index_kernel(g, across, k, w, decoding, state, buf, capacity, contexts, order0, flags, candidates,
                  tree_weights, flag_weights, divisors, stretch, squash):
    """Code the indices g (row by row over a grid `across` wide, w = ceil(log2 k) bits each) in place.

    Returns -1 when done, -2 when the encoded bytes exceeded `capacity`, or the
    position of a decoded index that is not below k."""
    cbits = min(w, MAX_TABLE_BITS - w)
    shift = w - cbits
    table = np.int64(1) << (cbits + w)
    bias, unused = np.int64(BIAS), np.int64(0)  # typed as the tree's inputs: each helper compiles once
    coder = _loaded(state)
    n = g.shape[0]
    for i in range(n):
        r = i // across
        c = i - r * across
        x = np.int64(g[i]) if not decoding else np.int64(0)
        left = above = above_left = above_right = np.int64(-1)  # -1: outside the grid
        if c > 0:
            left = np.int64(g[i - 1])
        if r > 0:
            above = np.int64(g[i - across])
            if c > 0:
                above_left = np.int64(g[i - across - 1])
            if c + 1 < across:
                above_right = np.int64(g[i - across + 1])
        done = False
        for flag in range(2):  # "same as the left neighbour", then "same as the one above"
            if flag == 0:
                if left < 0:
                    continue
                candidate = left
                ctx = (above == left) + 2 * (above_left == left) + 4 * (above_right == left)
                cand = 4 * left + (above == left)
            else:
                if done or above < 0 or above == left:
                    continue
                candidate = above
                ctx = 8 + (above_left == above) + 2 * (above_right == above) + 4 * (left < 0)
                cand = 4 * above + 2
            s0 = np.int64(stretch[_p12(flags[ctx])])
            s1 = np.int64(stretch[_p12(candidates[cand])])
            p = _mix(flag_weights, 5 * ctx, s0, s1, bias, unused, unused, squash)
            bit, coder = _code_bit(coder, buf, p, 1 if x == candidate else 0, decoding)
            _learn(flag_weights, 5 * ctx, s0, s1, bias, unused, unused, p, bit)
            _update(flags, ctx, bit, divisors)
            _update(candidates, cand, bit, divisors)
            if bit:
                x = candidate
                done = True
        if not done:  # the index itself, most significant bit first, down a binary tree
            ref_left = left if left >= 0 else (above if above >= 0 else 0)
            ref_above = above if above >= 0 else ref_left
            ref_right = above_right if above_right >= 0 else ref_above
            base0 = (ref_left >> shift) << w
            base1 = table + ((ref_above >> shift) << w)
            base2 = 2 * table + ((ref_right >> shift) << w)
            edge = (left < 0) + 2 * (above < 0)
            node = np.int64(1)
            for depth in range(w):
                s0 = np.int64(stretch[_p12(order0[node])])
                s1 = np.int64(stretch[_p12(contexts[base0 + node])])
                s2 = np.int64(stretch[_p12(contexts[base1 + node])])
                s3 = np.int64(stretch[_p12(contexts[base2 + node])])
                at = 5 * (4 * depth + edge)
                p = _mix(tree_weights, at, s0, s1, s2, s3, bias, squash)
                bit, coder = _code_bit(coder, buf, p, (x >> (w - 1 - depth)) & 1, decoding)
                _learn(tree_weights, at, s0, s1, s2, s3, bias, p, bit)
                _update(order0, node, bit, divisors)
                _update(contexts, base0 + node, bit, divisors)
                _update(contexts, base1 + node, bit, divisors)
                _update(contexts, base2 + node, bit, divisors)
                node = 2 * node + bit
            x = node - (np.int64(1) << w)
            if decoding and x >= k:
                return _stored(state, coder, i)
        if decoding:
            g[i] = x
        elif coder[3] > capacity:
            return _stored(state, coder, -2)
    return _stored(state, coder, -1)


def encode_indices(indices: np.ndarray, across: int, k: int, limit: int) -> bytes | None:
    """The context-coded index stream, or None if it would take `limit` bytes or more."""
    state, buf = _start(None, limit)
    g = np.ascontiguousarray(indices, dtype=np.uint16)
    w = (k - 1).bit_length()
    if _index_kernel(g, across, k, w, False, state, buf, limit, *index_tables(k), DIVISORS, STRETCH, SQUASH) == -2:
        return None
    data = _finish(state, buf)
    return data if data is not None and len(data) < limit else None


def decode_indices(payload: bytes, count: int, across: int, k: int) -> np.ndarray:
    """`count` indices (uint16) from a context-coded stream; FormatError if it is not one."""
    state, buf = _start(payload)
    g = np.zeros(count, dtype=np.uint16)
    bad = _index_kernel(g, across, k, (k - 1).bit_length(), True, state, buf, 0, *index_tables(k), DIVISORS, STRETCH,
                        SQUASH)
    if bad >= 0:
        raise FormatError(f"index {bad} decodes beyond the codebook of {k}")
    _check_end(state, payload, "index")
    return g


@njit(cache=True)
def _code_residual(coder, buf, counters, ctx, e, divisors, decoding):
    """Code a residual e in -128..128 with the 80 counters from counters[ctx]: is it zero, its
    sign, the class of its magnitude (the position of the highest bit) in unary, then the bits
    below the highest, most significant first. Returns e (decoded or given) and the coder."""
    zero, coder = _code_counted(coder, buf, counters, ctx, 1 if e == 0 else 0, divisors, decoding)
    if zero:
        return np.int64(0), coder
    negative, coder = _code_counted(coder, buf, counters, ctx + 1, 1 if e < 0 else 0, divisors, decoding)
    m = abs(e)
    cls = 0
    while cls < 7:
        more, coder = _code_counted(coder, buf, counters, ctx + 2 + cls, 1 if m >> (cls + 1) else 0, divisors,
                                    decoding)
        if not more:
            break
        cls += 1
    value = np.int64(1)
    for b in range(cls - 1, -1, -1):
        bit, coder = _code_counted(coder, buf, counters, ctx + 10 + 8 * cls + b, (m >> b) & 1, divisors, decoding)
        value = 2 * value + bit
    return (-value if negative else value), coder


@njit(cache=True, inline="always")
def _code_counted(coder, buf, counters, j, bit, divisors, decoding):
    """Code a bit with the probability of counter j, then update the counter; returns the bit and the coder."""
    bit, coder = _code_bit(coder, buf, _p12(counters[j]), bit, decoding)
    _update(counters, j, bit, divisors)
    return bit, coder


@njit(cache=True)
def _med(left, up, corner):
    """The median edge detector of LOCO-I: left or up across an edge, else the plane through the three."""
    if corner >= max(left, up):
        return min(left, up)
    if corner <= min(left, up):
        return max(left, up)
    return left + up - corner


@njit(cache=True)
def _level(activity):
    """0..7: how many bits the activity needs, capped at 7."""
    level = 0
    while level < 7 and activity >> level:
        level += 1
    return level


# --- the codebook model -----------------------------------------------------------------------

CODEBOOK_CONTEXTS = 32  # channel (4) x neighbourhood activity (8)
RESIDUAL_COUNTERS = 80  # per context: zero, sign, 8 magnitude classes, 8 x 8 mantissa bits


@njit(cache=True, nogil=True)
def _codebook_kernel(book, block, channels, decoding, state, buf, capacity, counters, divisors):
    """Code the codebook (K x D uint8, samples in (row, column, channel) order) in place.

    Each sample is predicted from its codeword (median edge detector on the
    same channel, plus the previous channel's prediction error) and the
    residual is coded bit by bit. Returns -1, or -2 when the encoded bytes
    exceeded `capacity`."""
    k, d = book.shape
    base = np.empty(d, dtype=np.int64)  # this codeword's predictions before the channel correction
    residual = np.empty(d, dtype=np.int64)  # |coded residual| of this codeword's samples
    previous = np.empty(d, dtype=np.int64)  # ... and of the previous codeword's
    for t in range(d):
        previous[t] = 0
    row = block * channels
    coder = _loaded(state)
    for j in range(k):
        for t in range(d):
            ch = t % channels
            x = (t // channels) % block
            y = t // row
            if x > 0 and y > 0:
                left = np.int64(book[j, t - channels])
                up = np.int64(book[j, t - row])
                corner = np.int64(book[j, t - row - channels])
                guess = _med(left, up, corner)
            elif x > 0:
                guess = np.int64(book[j, t - channels])
            elif y > 0:
                guess = np.int64(book[j, t - row])
            else:
                guess = np.int64(book[j - 1, t]) if j > 0 else np.int64(128)
            base[t] = guess
            prediction = guess
            if ch > 0:
                prediction = min(max(guess + np.int64(book[j, t - 1]) - base[t - 1], 0), 255)
            activity = previous[t] + (residual[t - channels] if x > 0 else 0) + (residual[t - row] if y > 0 else 0)
            ctx = RESIDUAL_COUNTERS * (8 * min(ch, 3) + _level(activity))
            e = ((np.int64(book[j, t]) - prediction + 128) & 255) - 128 if not decoding else np.int64(0)
            e, coder = _code_residual(coder, buf, counters, ctx, e, divisors, decoding)
            if decoding:
                book[j, t] = (prediction + e) & 255
            residual[t] = abs(e)
        for t in range(d):
            previous[t] = residual[t]
        if not decoding and coder[3] > capacity:
            return _stored(state, coder, -2)
    return _stored(state, coder, -1)


def encode_codebook(codebook: np.ndarray, block: int, channels: int, limit: int) -> bytes | None:
    """The predicted codebook stream, or None if it would take `limit` bytes or more."""
    state, buf = _start(None, limit)
    counters = np.full(CODEBOOK_CONTEXTS * RESIDUAL_COUNTERS, COUNTER_START, dtype=np.int32)
    book = np.ascontiguousarray(codebook, dtype=np.uint8)
    if _codebook_kernel(book, block, channels, False, state, buf, limit, counters, DIVISORS) == -2:
        return None
    data = _finish(state, buf)
    return data if data is not None and len(data) < limit else None


def decode_codebook(payload: bytes, k: int, block: int, channels: int) -> np.ndarray:
    """The K x D codebook from a predicted stream; FormatError if it is not one."""
    state, buf = _start(payload)
    counters = np.full(CODEBOOK_CONTEXTS * RESIDUAL_COUNTERS, COUNTER_START, dtype=np.int32)
    book = np.zeros((k, block * block * channels), dtype=np.uint8)
    _codebook_kernel(book, block, channels, True, state, buf, 0, counters, DIVISORS)
    _check_end(state, payload, "codebook")
    return book


# --- the block-mean model (.vqc v3) -------------------------------------------------------------

MEAN_CONTEXTS = 8  # neighbourhood activity


@njit(cache=True, nogil=True)
def _means_kernel(q, e, decoding, state, buf, capacity, counters, divisors):
    """Code the quantized block means q[1:, 1:] (int32, row by row) in place.

    Each is predicted by the median edge detector from its decoded left, upper
    and upper-left neighbours, and the residual (mod 256) is coded with
    counters chosen by how busy the neighbourhood is. Row 0 and column 0 of q
    are the cells beside the grid (-1: none), and e holds the |residual| each
    cell was coded with. Returns -1, or -2 when the encoded bytes exceeded
    `capacity`."""
    coder = _loaded(state)
    for r in range(1, q.shape[0]):
        for c in range(1, q.shape[1]):
            left, up, corner = np.int64(q[r, c - 1]), np.int64(q[r - 1, c]), np.int64(q[r - 1, c - 1])
            if left >= 0 and up >= 0 and corner >= 0:
                prediction = _med(left, up, corner)
                activity = abs(left - corner) + abs(up - corner) + e[r, c - 1] + e[r - 1, c]
            elif left >= 0:
                prediction, activity = left, np.int64(e[r, c - 1])
            elif up >= 0:
                prediction, activity = up, np.int64(e[r - 1, c])
            else:
                prediction, activity = np.int64(0), np.int64(0)
            ctx = RESIDUAL_COUNTERS * _level(activity)
            residual = ((np.int64(q[r, c]) - prediction + 128) & 255) - 128 if not decoding else np.int64(0)
            residual, coder = _code_residual(coder, buf, counters, ctx, residual, divisors, decoding)
            if decoding:
                q[r, c] = (prediction + residual) & 255
            e[r, c] = abs(residual)
            if not decoding and coder[3] > capacity:
                return _stored(state, coder, -2)
    return _stored(state, coder, -1)


def _bordered(grid: np.ndarray | None, shape: tuple[int, int], above=None, left=None, right: int = 0) -> np.ndarray:
    """A kernel's grid (int32): `grid` (zeros when decoding), with a row above it, a column on its left
    and `right` columns on its right holding the neighbours outside it (-1: none)."""
    rows, across = shape
    out = np.full((rows + 1, across + 1 + right), -1, dtype=np.int32)
    out[1:, 1 : across + 1] = 0 if grid is None else grid
    if above is not None:
        out[0, 1 : across + 1] = above
    if left is not None:
        out[1:, 0] = left
    return out


def encode_means(grid: np.ndarray, limit: int) -> bytes:
    """The coded stream of a 2-D grid of quantized means (uint8); OverflowError past `limit` bytes."""
    return _encode_means_with(_bordered(grid, grid.shape), np.zeros((grid.shape[0] + 1, grid.shape[1] + 1), np.int32),
                              limit, _means_counters())


def _means_counters() -> np.ndarray:
    return np.full(MEAN_CONTEXTS * RESIDUAL_COUNTERS, COUNTER_START, dtype=np.int32)


def _encode_means_with(q: np.ndarray, e: np.ndarray, limit: int, counters: np.ndarray) -> bytes:
    state, buf = _start(None, limit)
    data = None
    if _means_kernel(q, e, False, state, buf, limit, counters, DIVISORS) == -1:
        data = _finish(state, buf)
    if data is None:
        raise OverflowError(f"the means took more than {limit} bytes")
    return data


def decode_means(payload: bytes, rows: int, across: int) -> np.ndarray:
    """The rows x across grid of quantized means from a coded stream; FormatError if it is not one."""
    q = _bordered(None, (rows, across))
    _decode_means_with(payload, q, np.zeros_like(q), _means_counters())
    return q[1:, 1:].astype(np.uint8)


def _decode_means_with(payload: bytes, q: np.ndarray, e: np.ndarray, counters: np.ndarray) -> None:
    state, buf = _start(payload)
    _means_kernel(q, e, True, state, buf, 0, counters, DIVISORS)
    _check_end(state, payload, "means")


# --- the tile index model (.vqc v4) ----------------------------------------------------------

TILE_TABLE_BITS = 18  # version 4: a context table has at most 2^18 counters (1 MiB), whatever K


def tile_index_tables(k: int) -> tuple:
    """Version 4's index model in its starting state: the LEFT and ABOVE tables (one tree per context a
    neighbour's index can select), the order-0 tree, the flag counters and the mixers' weights (4 per
    tree mixer, 3 per flag mixer)."""
    w = (k - 1).bit_length()
    shift = w - min(w, TILE_TABLE_BITS - w)
    contexts = ((k - 1) >> shift) + 1
    return (np.full(2 * contexts << w, COUNTER_START, dtype=np.int32), np.full(1 << w, COUNTER_START, dtype=np.int32),
            np.full(16, COUNTER_START, dtype=np.int32), np.full(4 * k, COUNTER_START, dtype=np.int32),
            np.full(4 * 4 * max(w, 1), WEIGHT_START, dtype=np.int32), np.full(3 * 16, WEIGHT_START, dtype=np.int32))


@njit(cache=True, nogil=True, inline="always")
def _code_flag(coder, buf, flags, candidates, weights, ctx, cand, same, decoding, divisors, stretch, squash):
    """Code one "same as this neighbour?" flag with the mixer of pattern `ctx` (FLAG[ctx], CAND[cand] and
    the bias); returns whether it is (decoded, or `same`) and the coder."""
    s0 = np.int64(stretch[_p12(flags[ctx])])
    s1 = np.int64(stretch[_p12(candidates[cand])])
    at = 3 * ctx
    dot = (np.int64(weights[at]) * s0 + np.int64(weights[at + 1]) * s1 + np.int64(weights[at + 2]) * BIAS) >> 16
    p = np.int64(squash[min(max(dot, -2047), 2047) + 2047])
    bit, coder = _code_bit(coder, buf, p, 1 if same else 0, decoding)
    err = (bit << 12) - p
    weights[at] += (s0 * err) >> 10
    weights[at + 1] += (s1 * err) >> 10
    weights[at + 2] += (BIAS * err) >> 10
    _update(flags, ctx, bit, divisors)
    _update(candidates, cand, bit, divisors)
    return bit == 1, coder


@njit(cache=True, nogil=True)
def _tile_index_kernel(g, k, decoding, state, buf, capacity, contexts, order0, flags, candidates, tree_weights,
                       flag_weights, divisors, stretch, squash):
    """Code one tile's indices g[1:, 1:-1] (int32, row by row) in place, with the models given, which it
    leaves as they end. Row 0 and columns 0 and -1 of g are the blocks beside the tile (-1: none).
    Returns -1 when done, -2 when the encoded bytes exceeded `capacity`, or the position in the tile
    of a decoded index that is not below k."""
    w = 0
    while (np.int64(1) << w) < k:
        w += 1
    shift = w - min(w, TILE_TABLE_BITS - w)
    table = (((k - 1) >> shift) + 1) << w  # where the ABOVE table starts
    across = g.shape[1] - 2
    coder = _loaded(state)
    for r in range(1, g.shape[0]):
        for c in range(1, across + 1):
            x = np.int64(g[r, c]) if not decoding else np.int64(0)
            left, above = np.int64(g[r, c - 1]), np.int64(g[r - 1, c])
            above_left, above_right = np.int64(g[r - 1, c - 1]), np.int64(g[r - 1, c + 1])
            done = False
            for flag in range(2):  # "same as the left neighbour?", then "same as the one above?"
                if flag == 0:
                    if left < 0:
                        continue
                    candidate, cand = left, 4 * left + (above == left)
                    ctx = (above == left) + 2 * (above_left == left) + 4 * (above_right == left)
                else:
                    if above < 0 or above == left:
                        continue
                    candidate, cand = above, 4 * above + 2
                    ctx = 8 + (above_left == above) + 2 * (above_right == above) + 4 * (left < 0)
                done, coder = _code_flag(coder, buf, flags, candidates, flag_weights, ctx, cand, x == candidate,
                                         decoding, divisors, stretch, squash)  # one call: inlined once
                if done:
                    x = candidate
                    break
            if not done:  # the index itself, most significant bit first, down a binary tree
                ref_left = left if left >= 0 else (above if above >= 0 else 0)
                ref_above = above if above >= 0 else ref_left
                base0 = (ref_left >> shift) << w
                base1 = table + ((ref_above >> shift) << w)
                edge = (left < 0) + 2 * (above < 0)
                node = np.int64(1)
                for depth in range(w):
                    s0 = np.int64(stretch[_p12(order0[node])])
                    s1 = np.int64(stretch[_p12(contexts[base0 + node])])
                    s2 = np.int64(stretch[_p12(contexts[base1 + node])])
                    at = 4 * (4 * depth + edge)
                    dot = (np.int64(tree_weights[at]) * s0 + np.int64(tree_weights[at + 1]) * s1
                           + np.int64(tree_weights[at + 2]) * s2 + np.int64(tree_weights[at + 3]) * BIAS) >> 16
                    p = np.int64(squash[min(max(dot, -2047), 2047) + 2047])
                    bit, coder = _code_bit(coder, buf, p, (x >> (w - 1 - depth)) & 1, decoding)
                    err = (bit << 12) - p
                    tree_weights[at] += (s0 * err) >> 10
                    tree_weights[at + 1] += (s1 * err) >> 10
                    tree_weights[at + 2] += (s2 * err) >> 10
                    tree_weights[at + 3] += (BIAS * err) >> 10
                    _update(order0, node, bit, divisors)
                    _update(contexts, base0 + node, bit, divisors)
                    _update(contexts, base1 + node, bit, divisors)
                    node = 2 * node + bit
                x = node - (np.int64(1) << w)
                if decoding and x >= k:
                    return _stored(state, coder, (r - 1) * across + c - 1)
            if decoding:
                g[r, c] = x
            elif coder[3] > capacity:
                return _stored(state, coder, -2)
    return _stored(state, coder, -1)


class IndexModel:
    """Version 4's index model for one plane's tiles: a tile's stream is coded from the state its seed
    tile's ended in, with the seed's last row (when the seed is above it) or last column (when it is on
    its left) as the neighbours of its own first row or column; `copy()` is a snapshot to hand on."""

    def __init__(self, k: int, tables: tuple | None = None, row=None, column=None):
        self.k = k
        self.tables = tile_index_tables(k) if tables is None else tables
        self.row, self.column = row, column  # of the last tile coded: its last row and column of indices

    def copy(self) -> "IndexModel":
        return IndexModel(self.k, tuple(a.copy() for a in self.tables), self.row, self.column)

    def grid(self, indices: np.ndarray | None, shape: tuple[int, int], seed: str | None) -> np.ndarray:
        """The kernel's grid for a tile whose seed is "above", "left" or None."""
        return _bordered(indices, shape, self.row if seed == "above" else None, self.column if seed == "left" else None,
                         right=1)

    def ended(self, g: np.ndarray) -> None:
        self.row, self.column = g[-1, 1:-1].copy(), g[1:, -2].copy()


class MeansModel:
    """Version 4's means model for one plane's tiles, carried from tile to tile as IndexModel is, with
    the last row and column of the last tile's cells and of their |residuals|."""

    def __init__(self, counters: np.ndarray | None = None, row=None, column=None):
        self.counters = _means_counters() if counters is None else counters
        self.row, self.column = row, column  # (q, |e|) of the last tile's last row and column

    def copy(self) -> "MeansModel":
        return MeansModel(self.counters.copy(), self.row, self.column)

    def grids(self, q: np.ndarray | None, shape: tuple[int, int], seed: str | None) -> tuple[np.ndarray, np.ndarray]:
        """The kernel's q and |e| grids for a tile whose seed is "above", "left" or None."""
        row = self.row if seed == "above" else (None, None)
        column = self.column if seed == "left" else (None, None)
        return _bordered(q, shape, row[0], column[0]), np.maximum(_bordered(None, shape, row[1], column[1]), 0)

    def ended(self, q: np.ndarray, e: np.ndarray) -> None:
        self.row, self.column = (q[-1, 1:].copy(), e[-1, 1:].copy()), (q[1:, -1].copy(), e[1:, -1].copy())


def encode_tile_indices(indices: np.ndarray, model: IndexModel, limit: int, seed: str | None) -> bytes:
    """A tile's index stream (its 2-D block indices) coded from `model`, which it updates, the tile's seed
    being "above" it, on its "left" or None; OverflowError past `limit` bytes (a bound no encoder reaches)."""
    state, buf = _start(None, limit)
    g = model.grid(indices, indices.shape, seed)
    code = _tile_index_kernel(g, model.k, False, state, buf, limit, *model.tables, DIVISORS, STRETCH, SQUASH)
    data = _finish(state, buf) if code == -1 else None
    if data is None:
        raise OverflowError(f"a tile's indices took more than {limit} bytes")
    model.ended(g)
    return data


def decode_tile_indices(payload: bytes, rows: int, across: int, model: IndexModel, seed: str | None) -> np.ndarray:
    """A tile's rows x across block indices (uint16) from its index stream, decoded from `model`, which
    it updates; FormatError if the stream is not one."""
    state, buf = _start(payload)
    g = model.grid(None, (rows, across), seed)
    bad = _tile_index_kernel(g, model.k, True, state, buf, 0, *model.tables, DIVISORS, STRETCH, SQUASH)
    if bad >= 0:
        raise FormatError(f"index {bad} of a tile decodes beyond the codebook of {model.k}")
    _check_end(state, payload, "index")
    model.ended(g)
    return g[1:, 1:-1].astype(np.uint16)


def encode_tile_means(grid: np.ndarray, model: MeansModel, limit: int, seed: str | None) -> bytes:
    """A tile's means stream (its grid of quantized means) coded from `model`, which it updates."""
    q, e = model.grids(grid, grid.shape, seed)
    data = _encode_means_with(q, e, limit, model.counters)
    model.ended(q, e)
    return data


def decode_tile_means(payload: bytes, rows: int, across: int, model: MeansModel, seed: str | None) -> np.ndarray:
    """A tile's rows x across grid of quantized means from its means stream, decoded from `model`."""
    q, e = model.grids(None, (rows, across), seed)
    _decode_means_with(payload, q, e, model.counters)
    model.ended(q, e)
    return q[1:, 1:].astype(np.uint8)


# --- the refinement model (version 4's plane tool REFINE) --------------------------------------

REFINEMENT_CONTEXTS = 64  # neighbourhood activity (8) x the level of the block's codeword (8)


@njit(cache=True, nogil=True)
def _refinement_kernel(q, levels, block, decoding, state, buf, capacity, counters, divisors):
    """Code a tile's quantized residuals q[1:, 1:-1] (int16, row by row) in place; row 0 and columns 0 and
    -1 are zeros around the tile. Each is coded with the counters of how large its decoded neighbours
    are (left, up, and half of up-left and up-right) and of the level of its block's codeword (`levels`,
    a level per block of the tile: how much the codewords move a block, where most of what they miss
    is). Returns -1, or -2 when the encoded bytes exceeded `capacity`."""
    coder = _loaded(state)
    for r in range(1, q.shape[0]):
        row_levels = levels[(r - 1) // block]
        for c in range(1, q.shape[1] - 1):
            activity = (abs(np.int64(q[r, c - 1])) + abs(np.int64(q[r - 1, c]))
                        + ((abs(np.int64(q[r - 1, c - 1])) + abs(np.int64(q[r - 1, c + 1])) + 1) >> 1))
            ctx = RESIDUAL_COUNTERS * (_level(activity) + 8 * np.int64(row_levels[(c - 1) // block]))
            value, coder = _code_residual(coder, buf, counters, ctx, np.int64(q[r, c]), divisors, decoding)
            if decoding:
                q[r, c] = value
            elif coder[3] > capacity:
                return _stored(state, coder, -2)
    return _stored(state, coder, -1)


def codeword_levels(codebook: np.ndarray) -> np.ndarray:
    """Each codeword's level for the refinement's contexts (uint8): the binary digits, at most 7, of the
    sum of |w - 128| over its samples w."""
    moved = np.abs(codebook.astype(np.int64) - 128).sum(axis=1)
    return np.minimum(7, np.frexp(moved.astype(np.float64))[1]).astype(np.uint8)  # m = f 2^e, 1/2 <= f < 1


def refinement_grid(rows: int, across: int) -> np.ndarray:
    """A tile's quantized residuals as _refinement_kernel holds them: zeros, with a row above and a column
    on each side."""
    return np.zeros((rows + 1, across + 2), dtype=np.int16)


def encode_refinement(q: np.ndarray, levels: np.ndarray, block: int, step: int, limit: int) -> bytes | None:
    """A tile's refinement stream: its step's byte, then its quantized residuals (a refinement_grid, each
    -255..255) coded, with `levels` the level of each of its blocks' codewords; None if it would take
    `limit` bytes or more."""
    state, buf = _start(None, limit - 1)
    counters = np.full(REFINEMENT_CONTEXTS * RESIDUAL_COUNTERS, COUNTER_START, dtype=np.int32)
    if _refinement_kernel(q, levels, block, False, state, buf, limit - 1, counters, DIVISORS) == -2:
        return None
    data = _finish(state, buf)
    return None if data is None or len(data) + 1 >= limit else bytes([step]) + data


def decode_refinement(payload: bytes, levels: np.ndarray, block: int, rows: int, across: int) -> tuple[int, np.ndarray]:
    """(step, a refinement_grid of the quantized residuals) from a tile's non-empty refinement stream, with
    `levels` the level of each of its blocks' codewords; FormatError if it is not one."""
    step = payload[0]
    if step == 0:
        raise FormatError("a refinement stream has a step of 0")
    state, buf = _start(payload[1:])
    q = refinement_grid(rows, across)
    counters = np.full(REFINEMENT_CONTEXTS * RESIDUAL_COUNTERS, COUNTER_START, dtype=np.int32)
    _refinement_kernel(q, levels, block, True, state, buf, 0, counters, DIVISORS)
    _check_end(state, payload[1:], "refinement")
    return step, q
