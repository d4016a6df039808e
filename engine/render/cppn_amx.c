/* The whole CPPN for one frame in one pass per 32 pixels, on AMX-BF16 tiles.
 *
 * Why by hand: drawn layer by layer (inductor's GEMM template, or oneDNN), each 16384-row
 * chunk streams its activations through memory four times, the fp32 accumulators make a
 * round trip through L2, and every layer is its own kernel call (with two threads: its own
 * barrier). Here 32 pixels go through every layer while their activations (32 x H bf16,
 * 8 KB at H = 128) and accumulators (32 x 32 fp32) stay in L1: the first layer and the
 * sines in AVX-512 fp32, the hidden matmuls on AMX tiles with fp32 accumulation started
 * from the bias, a polynomial sine and the cast to bf16 applied to each 32x32 accumulator
 * block while the tiles compute the next, the output layer, sigmoid, colour matrix and
 * the rounding to uint8 at the end. Work is handed out in jobs of JOB_PIXELS through a shared atomic
 * counter, so any number of threads can draw one frame with no barrier but the last.
 *
 * Maths, identical to engine.render.bf16.chunk_rgb (the reference the tests compare):
 *   (gx, gy) pixel centre; (px, py) = (gx, gy) @ coord;
 *   x = px + wa sin(py f + ph); y = py + wa sin(px f + ph); r = |(x, y)|
 *   h = bf16(sin(x w0x + y w0y + r w0r + b0)); h = bf16(sin(h @ W + b)) per hidden layer
 *   s = sigmoid(h @ Wo + bo); rgb = clamp(s @ colour, 0, 1)
 * sin is r (pi^2 - r^2) Q(r^2) after reduction to [-pi, pi] (engine.render.bf16.SIN_Q).
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BLOCK 32       /* pixels per pass: two 16-row tiles */
#define JOB_PIXELS 2048 /* pixels per job taken from the shared counter */
#define MAX_H 1024

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

typedef struct {
    uint8_t palette_id;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tilecfg_t;

/* Ask Linux for the AMX tile state (once per process; 0 on success). */
int sono_amx_init(void) {
    return (int)syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA);
}

int sono_abi_version(void) { return 2; }

static const float SQ0 = 0.10131888199050997f, SQ1 = -0.006616492613823028f,
                   SQ2 = 0.00017134364165809126f, SQ3 = -2.1371680105311263e-06f;

/* Profiling builds only (bench/render.py prices the parts): SONO_NO_SINE makes the sine
 * the identity, SONO_NO_MATMUL skips the tile products (wrong pictures, honest timings). */
static inline __m512 fast_sin(__m512 z) {
#ifdef SONO_NO_SINE
    return z;
#endif
    const __m512 inv2pi = _mm512_set1_ps(0.15915494309189535f);
    const __m512 twopi = _mm512_set1_ps(6.283185307179586f);
    const __m512 pisq = _mm512_set1_ps(9.869604401089358f);
    __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(z, inv2pi),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, twopi, z);
    __m512 s = _mm512_mul_ps(r, r);
    __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(SQ3), s, _mm512_set1_ps(SQ2));
    q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(SQ1));
    q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(SQ0));
    return _mm512_mul_ps(_mm512_mul_ps(r, _mm512_sub_ps(pisq, s)), q);
}

static inline __m512 fast_exp(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-80.0f)), _mm512_set1_ps(80.0f));
    __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(1.4426950408889634f));
    __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_mul_ps(_mm512_sub_ps(t, n), _mm512_set1_ps(0.6931471805599453f));
    __m512 p = _mm512_set1_ps(1.0f / 720.0f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* Two rows of 16 fp32 sines -> 32 bf16 stored at dst. */
static inline void store_bf16_pair(uint16_t *dst, __m512 lo, __m512 hi) {
    __m512bh v = _mm512_cvtne2ps_pbh(hi, lo);
    _mm512_storeu_si512((void *)dst, (__m512i)v);
}

/* The same, and where ``lo_dst`` is given the remainder v - bf16(v) as bf16 too: hi + lo
 * carries v to ~2^-17 (the precise mode's activations). */
static inline void store_split(uint16_t *hi_dst, uint16_t *lo_dst, __m512 lo, __m512 hi) {
    __m512i h = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
    _mm512_storeu_si512((void *)hi_dst, h);
    if (lo_dst) {
        __m512 f0 = _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(h)), 16));
        __m512 f1 = _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(h, 1)), 16));
        store_bf16_pair(lo_dst, _mm512_sub_ps(lo, f0), _mm512_sub_ps(hi, f1));
    }
}

/* C tiles (cs) += A (rows 0-15 in tile 4, 16-31 in tile 5) @ B (tiles 6, 7: ``nb`` of them)
 * over one k-step; in the precise mode also A_hi @ B_lo and A_lo @ B_hi (A_lo @ B_lo,
 * ~2^-18 of the product, is left out). */
#ifdef SONO_NO_MATMUL
#define DP(c, a, b)
#else
#define DP(c, a, b) _tile_dpbf16ps(c, a, b)
#endif
#define KSTEP2(A, Alo, lda, B0, B1, B0lo, B1lo)                  \
    do {                                                         \
        _tile_loadd(4, (A), (lda));                              \
        _tile_loadd(5, (A) + 16 * (lda) / 2, (lda));             \
        _tile_loadd(6, (B0), 64);                                \
        _tile_loadd(7, (B1), 64);                                \
        DP(0, 4, 6); DP(1, 4, 7); DP(2, 5, 6); DP(3, 5, 7);      \
        if (Alo) {                                               \
            _tile_loadd(6, (B0lo), 64);                          \
            _tile_loadd(7, (B1lo), 64);                          \
            DP(0, 4, 6); DP(1, 4, 7); DP(2, 5, 6); DP(3, 5, 7);  \
            _tile_loadd(4, (Alo), (lda));                        \
            _tile_loadd(5, (Alo) + 16 * (lda) / 2, (lda));       \
            _tile_loadd(6, (B0), 64);                            \
            _tile_loadd(7, (B1), 64);                            \
            DP(0, 4, 6); DP(1, 4, 7); DP(2, 5, 6); DP(3, 5, 7);  \
        }                                                        \
    } while (0)
#define KSTEP1(A, Alo, lda, B0, B0lo)                            \
    do {                                                         \
        _tile_loadd(4, (A), (lda));                              \
        _tile_loadd(5, (A) + 16 * (lda) / 2, (lda));             \
        _tile_loadd(6, (B0), 64);                                \
        DP(0, 4, 6); DP(2, 5, 6);                                \
        if (Alo) {                                               \
            _tile_loadd(6, (B0lo), 64);                          \
            DP(0, 4, 6); DP(2, 5, 6);                            \
            _tile_loadd(4, (Alo), (lda));                        \
            _tile_loadd(5, (Alo) + 16 * (lda) / 2, (lda));       \
            _tile_loadd(6, (B0), 64);                            \
            DP(0, 4, 6); DP(2, 5, 6);                            \
        }                                                        \
    } while (0)

/* Frame constants, in this order (floats): coord00 coord01 coord10 coord11 (row-major
 * 2x2, applied as (gx, gy) @ coord), warp amplitude, warp phase, warp frequency,
 * colour 3x3 row-major (rgb = s @ colour), x0, dx, y0, dy (pixel (c, r) sits at
 * x0 + (c + 0.5) dx, y0 + (r + 0.5) dy). 20 floats. */
enum { F_C00, F_C01, F_C10, F_C11, F_WA, F_WPH, F_WF, F_COL, F_X0 = F_COL + 9, F_DX, F_Y0,
       F_DY, F_COUNT };

/* hp: H padded to a multiple of 32. w0: (3, hp) fp32. b0: (hp). wh: (layers-1) hidden
 * weights, each packed as [hp/16 n-tiles][hp/32 k-steps][16 rows][32] bf16 (VNNI pairs
 * along k). bh: (layers-1, hp). wo: output weights packed [hp/32][16][32] (3 columns used
 * of 16). bo: (3). wh_lo, wo_lo: NULL, or the weights' remainders w - bf16(w) packed the
 * same way: the precise mode (three bf16 products per matmul, activations as hi + lo),
 * within fp32 rounding of the fp32 network at ~2.5x the fast mode's matmul work.
 * Writes (height*width, 3) uint8 to out8 or fp32 to outf (one is NULL).
 * counter: shared job counter (start at 0; every thread of one frame calls this). */
int sono_cppn_frame(const float *w0, const float *b0, const uint16_t *wh,
                    const uint16_t *wh_lo, const float *bh, const uint16_t *wo,
                    const uint16_t *wo_lo, const float *bo, const float *fc, int hp,
                    int layers, int width, int height, uint8_t *out8, float *outf,
                    int64_t *counter) {
    if (hp % 32 || hp < 32 || hp > MAX_H || layers < 1) return -1;
    const int64_t n = (int64_t)width * height;
    const int64_t jobs = (n + JOB_PIXELS - 1) / JOB_PIXELS;
    const int ks_n = hp / 32;           /* k-steps of 32 */
    const int64_t tile_elems = 16 * 32; /* bf16 per packed tile */
    const int64_t layer_elems = (int64_t)hp * hp;

    uint16_t act_a[BLOCK * MAX_H] __attribute__((aligned(64)));
    uint16_t act_b[BLOCK * MAX_H] __attribute__((aligned(64)));
    uint16_t lo_a[BLOCK * MAX_H] __attribute__((aligned(64)));
    uint16_t lo_b[BLOCK * MAX_H] __attribute__((aligned(64)));
    const int precise = wh_lo != NULL && wo_lo != NULL;
    float acc[2][BLOCK * 32] __attribute__((aligned(64)));
    float xs[BLOCK] __attribute__((aligned(64))), ys[BLOCK] __attribute__((aligned(64))),
        rs[BLOCK] __attribute__((aligned(64)));

    tilecfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette_id = 1;
    for (int t = 0; t < 8; t++) {
        cfg.rows[t] = 16;
        cfg.colsb[t] = 64;
    }
    _tile_loadconfig(&cfg);

    const float c00 = fc[F_C00], c01 = fc[F_C01], c10 = fc[F_C10], c11 = fc[F_C11];
    const __m512 wa = _mm512_set1_ps(fc[F_WA]), wph = _mm512_set1_ps(fc[F_WPH]),
                 wf = _mm512_set1_ps(fc[F_WF]);
    const int warp = fc[F_WA] != 0.0f;
    const float *col = fc + F_COL;
    const __m512i gather_idx = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32(32));

    for (;;) {
        int64_t job = __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
        if (job >= jobs) break;
        int64_t p_end = (job + 1) * JOB_PIXELS;
        if (p_end > n) p_end = n;
        for (int64_t p0 = job * JOB_PIXELS; p0 < p_end; p0 += BLOCK) {
            int valid = (int)(p_end - p0 < BLOCK ? p_end - p0 : BLOCK);
            /* pixel coordinates (one division per block, not per pixel); rows past the
             * end repeat the last pixel */
            float gx[BLOCK] __attribute__((aligned(64))), gy[BLOCK] __attribute__((aligned(64)));
            int64_t row = p0 / width, c = p0 - row * width;
            for (int m = 0; m < BLOCK; m++) {
                gx[m] = fc[F_X0] + ((float)c + 0.5f) * fc[F_DX];
                gy[m] = fc[F_Y0] + ((float)row + 0.5f) * fc[F_DY];
                if (m + 1 < valid && ++c == width) {
                    c = 0;
                    row++;
                }
            }
            for (int v = 0; v < BLOCK; v += 16) {
                __m512 vx = _mm512_load_ps(gx + v), vy = _mm512_load_ps(gy + v);
                __m512 px = _mm512_add_ps(_mm512_mul_ps(vx, _mm512_set1_ps(c00)),
                                          _mm512_mul_ps(vy, _mm512_set1_ps(c10)));
                __m512 py = _mm512_add_ps(_mm512_mul_ps(vx, _mm512_set1_ps(c01)),
                                          _mm512_mul_ps(vy, _mm512_set1_ps(c11)));
                __m512 x = px, y = py;
                if (warp) {
                    x = _mm512_fmadd_ps(wa, fast_sin(_mm512_fmadd_ps(py, wf, wph)), px);
                    y = _mm512_fmadd_ps(wa, fast_sin(_mm512_fmadd_ps(px, wf, wph)), py);
                }
                __m512 r = _mm512_sqrt_ps(_mm512_fmadd_ps(x, x, _mm512_mul_ps(y, y)));
                _mm512_store_ps(xs + v, x);
                _mm512_store_ps(ys + v, y);
                _mm512_store_ps(rs + v, r);
            }
            /* first layer: 3 inputs, fp32 */
            for (int m = 0; m < BLOCK; m++) {
                __m512 bx = _mm512_set1_ps(xs[m]), by = _mm512_set1_ps(ys[m]),
                       br = _mm512_set1_ps(rs[m]);
                for (int j = 0; j < hp; j += 32) {
                    __m512 z0 = _mm512_fmadd_ps(bx, _mm512_loadu_ps(w0 + j),
                                 _mm512_fmadd_ps(by, _mm512_loadu_ps(w0 + hp + j),
                                  _mm512_fmadd_ps(br, _mm512_loadu_ps(w0 + 2 * hp + j),
                                                  _mm512_loadu_ps(b0 + j))));
                    __m512 z1 = _mm512_fmadd_ps(bx, _mm512_loadu_ps(w0 + j + 16),
                                 _mm512_fmadd_ps(by, _mm512_loadu_ps(w0 + hp + j + 16),
                                  _mm512_fmadd_ps(br, _mm512_loadu_ps(w0 + 2 * hp + j + 16),
                                                  _mm512_loadu_ps(b0 + j + 16))));
                    store_split(act_a + m * hp + j, precise ? lo_a + m * hp + j : NULL,
                                fast_sin(z0), fast_sin(z1));
                }
            }
            /* hidden layers on AMX: tiles 0-3 accumulate a 32x32 block (starting from the
             * bias: a stride-0 tile load repeats it down the rows), 4-5 hold A, 6-7 B. The
             * epilogue (sine, cast) of one block runs while the tiles compute the next. */
            uint16_t *in = act_a, *out = act_b;
            uint16_t *in_lo = precise ? lo_a : NULL, *out_lo = precise ? lo_b : NULL;
            for (int l = 0; l < layers - 1; l++) {
                const uint16_t *W = wh + l * layer_elems;
                const uint16_t *Wl = precise ? wh_lo + l * layer_elems : W;
                const float *B = bh + (int64_t)l * hp;
                const int groups = hp / 32;
                for (int g = 0; g <= groups; g++) {
                    if (g < groups) {
                        _tile_loadd(0, B + g * 32, 0);
                        _tile_loadd(1, B + g * 32 + 16, 0);
                        _tile_loadd(2, B + g * 32, 0);
                        _tile_loadd(3, B + g * 32 + 16, 0);
                        for (int ks = 0; ks < ks_n; ks++) {
                            const int64_t t0 = ((int64_t)2 * g * ks_n + ks) * tile_elems;
                            const int64_t t1 = ((int64_t)(2 * g + 1) * ks_n + ks) * tile_elems;
                            KSTEP2(in + ks * 32, in_lo ? in_lo + ks * 32 : NULL, hp * 2,
                                   W + t0, W + t1, Wl + t0, Wl + t1);
                        }
                    }
                    if (g > 0) { /* the block before, while the tiles work on this one */
                        const float *a = acc[(g - 1) & 1];
                        const int o = (g - 1) * 32;
                        for (int m = 0; m < BLOCK; m++)
                            store_split(out + m * hp + o, out_lo ? out_lo + m * hp + o : NULL,
                                        fast_sin(_mm512_load_ps(a + m * 32)),
                                        fast_sin(_mm512_load_ps(a + m * 32 + 16)));
                    }
                    if (g < groups) {
                        float *a = acc[g & 1];
                        _tile_stored(0, a, 128);
                        _tile_stored(1, a + 16, 128);
                        _tile_stored(2, a + 16 * 32, 128);
                        _tile_stored(3, a + 16 * 32 + 16, 128);
                    }
                }
                uint16_t *t = in;
                in = out;
                out = t;
                t = in_lo;
                in_lo = out_lo;
                out_lo = t;
            }
            /* output layer: one 16-column tile (3 used) */
            _tile_zero(0);
            _tile_zero(2);
            for (int ks = 0; ks < ks_n; ks++)
                KSTEP1(in + ks * 32, in_lo ? in_lo + ks * 32 : NULL, hp * 2,
                       wo + ks * tile_elems, (precise ? wo_lo : wo) + ks * tile_elems);
            _tile_stored(0, acc[0], 128);
            _tile_stored(2, acc[0] + 16 * 32, 128);
            for (int v = 0; v < BLOCK; v += 16) {
                const float *a = acc[0] + v * 32;
                __m512 s[3];
                for (int k = 0; k < 3; k++) {
                    __m512 o = _mm512_add_ps(_mm512_i32gather_ps(gather_idx, a + k, 4),
                                             _mm512_set1_ps(bo[k]));
                    s[k] = _mm512_div_ps(_mm512_set1_ps(1.0f),
                                         _mm512_add_ps(_mm512_set1_ps(1.0f),
                                                       fast_exp(_mm512_sub_ps(
                                                           _mm512_setzero_ps(), o))));
                }
                float rgb[3][16] __attribute__((aligned(64)));
                for (int c = 0; c < 3; c++) {
                    __m512 t = _mm512_mul_ps(s[0], _mm512_set1_ps(col[c]));
                    t = _mm512_add_ps(t, _mm512_mul_ps(s[1], _mm512_set1_ps(col[3 + c])));
                    t = _mm512_add_ps(t, _mm512_mul_ps(s[2], _mm512_set1_ps(col[6 + c])));
                    t = _mm512_min_ps(_mm512_max_ps(t, _mm512_setzero_ps()),
                                      _mm512_set1_ps(1.0f));
                    if (out8)
                        t = _mm512_add_ps(_mm512_mul_ps(t, _mm512_set1_ps(255.0f)),
                                          _mm512_set1_ps(0.5f));
                    _mm512_store_ps(rgb[c], t);
                }
                int cnt = valid - v;
                if (cnt > 16) cnt = 16;
                for (int m = 0; m < cnt; m++) {
                    int64_t p = p0 + v + m;
                    if (out8) {
                        out8[3 * p] = (uint8_t)rgb[0][m];
                        out8[3 * p + 1] = (uint8_t)rgb[1][m];
                        out8[3 * p + 2] = (uint8_t)rgb[2][m];
                    } else {
                        outf[3 * p] = rgb[0][m];
                        outf[3 * p + 1] = rgb[1][m];
                        outf[3 * p + 2] = rgb[2][m];
                    }
                }
            }
        }
    }
    _tile_release();
    return 0;
}
