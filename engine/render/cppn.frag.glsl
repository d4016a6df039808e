// The CPPN as a fragment shader. Weights live in one RGBA32F texture (plain uniforms cap
// at 16384 components, one 128x128 layer): row = output unit, texel i = inputs 4i..4i+3,
// texel BIAS_COL.r = the bias. Layers are stacked: first layer (VEC_IN texels wide), then
// the hidden layers, then the 3 output rows. Loop bounds come from uniforms, so the
// compiler does not unroll 50K multiply-adds (Mesa hangs on that).
// MAXV (array length in vec4s) and WARP_FREQ are #defined by the host before compiling.

uniform sampler2D u_weights;
uniform int u_in4;        // first-layer inputs / 4 (x, y, r, extras..., zero padding)
uniform int u_hidden4;    // hidden width / 4 (padded)
uniform int u_layers;     // hidden layers
uniform int u_bias_col;   // texel column holding the biases
uniform vec4 u_inputs[MAXV];  // the extra inputs at positions 3.. (x, y, r slots are 0)

uniform vec4 u_window;    // x0, y0, x1, y1 in CPPN units (top-left to bottom-right)
uniform vec2 u_size;      // viewport width, height in pixels
uniform vec2 u_origin;    // viewport origin in framebuffer pixels
uniform float u_flip;     // 1: framebuffer row 0 holds the image's top row (for read-back)
uniform mat2 u_coord;     // rotation / zoom
uniform float u_warp;
uniform float u_warp_phase;
uniform mat3 u_color;     // hue rotation x brightness

out vec4 frag_color;

#define ROW_DOT(RESULT, ROW, N4, V) {                                         \
    float s_ = texelFetch(u_weights, ivec2(u_bias_col, (ROW)), 0).r;          \
    for (int i_ = 0; i_ < (N4); ++i_)                                         \
        s_ += dot(texelFetch(u_weights, ivec2(i_, (ROW)), 0), V[i_]);         \
    RESULT = s_; }

void main() {
    vec2 pix = gl_FragCoord.xy - u_origin;
    float row = (u_flip > 0.5) ? pix.y : (u_size.y - pix.y);  // top-based row + 0.5
    vec2 p = vec2(u_window.x + pix.x * ((u_window.z - u_window.x) / u_size.x),
                  u_window.y + row * ((u_window.w - u_window.y) / u_size.y));
    p = u_coord * p;
    p += u_warp * sin(p.yx * WARP_FREQ + u_warp_phase);

    vec4 a[MAXV];
    vec4 b[MAXV];
    for (int i = 0; i < u_in4; ++i) a[i] = u_inputs[i];
    a[0].xyz = vec3(p, length(p));

    int base = 0;
    for (int o = 0; o < u_hidden4; ++o) {
        vec4 acc;
        int r0 = base + 4 * o;
        ROW_DOT(acc.x, r0, u_in4, a)
        ROW_DOT(acc.y, r0 + 1, u_in4, a)
        ROW_DOT(acc.z, r0 + 2, u_in4, a)
        ROW_DOT(acc.w, r0 + 3, u_in4, a)
        b[o] = sin(acc);
    }
    base += 4 * u_hidden4;
    for (int l = 1; l < u_layers; ++l) {
        for (int o = 0; o < u_hidden4; ++o) {
            vec4 acc;
            int r0 = base + 4 * o;
            ROW_DOT(acc.x, r0, u_hidden4, b)
            ROW_DOT(acc.y, r0 + 1, u_hidden4, b)
            ROW_DOT(acc.z, r0 + 2, u_hidden4, b)
            ROW_DOT(acc.w, r0 + 3, u_hidden4, b)
            a[o] = sin(acc);
        }
        for (int o = 0; o < u_hidden4; ++o) b[o] = a[o];
        base += 4 * u_hidden4;
    }
    vec3 out_;
    ROW_DOT(out_.x, base, u_hidden4, b)
    ROW_DOT(out_.y, base + 1, u_hidden4, b)
    ROW_DOT(out_.z, base + 2, u_hidden4, b)
    vec3 rgb = 1.0 / (1.0 + exp(-out_));
    frag_color = vec4(clamp(u_color * rgb, 0.0, 1.0), 1.0);
}
