//! CUDA C source for every kernel, generated from the op table. Each op of the table has one
//! CUDA expression below (an exhaustive `match`, so a new op without one does not compile);
//! everything else (indexing, broadcasting strides, reductions) is shared. Pure string work: it
//! needs no GPU, so `tests/nvrtc.rs` compiles every kernel with NVRTC on any machine.

use std::fmt::Write;

use tensile_core::{BinaryOp, DType, ReduceOp, UnaryOp};

/// The highest rank a kernel indexes (the core's `MAX_RANK`).
pub const MAX_RANK: usize = 8;

/// Threads per block of the map kernels and the widest reduction block.
pub const BLOCK: u32 = 256;

/// The CUDA type of a dtype.
pub fn ctype(dt: DType) -> &'static str {
    match dt {
        DType::F32 => "float",
        DType::F64 => "double",
        DType::I32 => "int",
        DType::I64 => "long long",
        DType::U8 => "unsigned char",
    }
}

/// `op(x)` as a CUDA expression over `x` of type `T`: one line per op of the table.
pub fn unary_expr(op: UnaryOp) -> &'static str {
    match op {
        UnaryOp::Neg => "-x",
        UnaryOp::Exp => "exp(x)",
        UnaryOp::Log => "log(x)",
        UnaryOp::Sqrt => "sqrt(x)",
        UnaryOp::Abs => "fabs(x)",
        UnaryOp::Relu => "(x > (T)0 ? x : (T)0)",
        UnaryOp::Sigmoid => "(x >= (T)0 ? (T)1 / ((T)1 + exp(-x)) : exp(x) / ((T)1 + exp(x)))",
        UnaryOp::Tanh => "tanh(x)",
        UnaryOp::Step => "(x > (T)0 ? (T)1 : (T)0)",
    }
}

/// `op(a, b)` as a CUDA expression over `a`, `b` of type `T`: one line per op of the table.
pub fn binary_expr(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "a + b",
        BinaryOp::Sub => "a - b",
        BinaryOp::Mul => "a * b",
        BinaryOp::Div => "a / b",
        BinaryOp::Pow => "pow(a, b)",
        // NaN propagates (a + b is NaN when either is), as torch.maximum/minimum.
        // Ties keep `a` (so maximum(-0.0, 0.0) is -0.0, as on the host).
        BinaryOp::Maximum => "((a != a || b != b) ? a + b : (a >= b ? a : b))",
        BinaryOp::Minimum => "((a != a || b != b) ? a + b : (a <= b ? a : b))",
        BinaryOp::Eq => "(a == b ? (T)1 : (T)0)",
    }
}

/// What an elementwise kernel computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapTag {
    /// `y = op(x)`.
    Unary(UnaryOp),
    /// `y = op(a, b)`.
    Binary(BinaryOp),
    /// `y = op(x, s)`.
    ScalarRhs(BinaryOp),
    /// `y = op(s, x)`.
    ScalarLhs(BinaryOp),
    /// `y = x` (a strided copy).
    Copy,
    /// `y = (B)x`, with Rust `as` semantics through f64 (as the core's `Cast`).
    Cast,
    /// `y = 0`.
    Zero,
}

/// Every kernel the device can launch: the key of the compiled-function cache and of the
/// generated source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Elementwise over broadcast strides; `a` is the input dtype, `b` the output's.
    Map {
        /// What it computes.
        tag: MapTag,
        /// Input dtype.
        a: DType,
        /// Output dtype.
        b: DType,
    },
    /// Sum, mean, var or std along axes (one block per output).
    Reduce {
        /// 0 sum, 1 mean, 2 var, 3 std.
        op: u8,
        /// Dtype.
        dt: DType,
    },
    /// Combines the partial sums of a split reduction.
    ReduceFinish {
        /// 0 sum, 1 mean, 2 var, 3 std.
        op: u8,
        /// Dtype.
        dt: DType,
    },
    /// Max or min with its first index along axes.
    Extremum {
        /// Which extreme.
        max: bool,
        /// Dtype.
        dt: DType,
    },
    /// An optimizer step over contiguous buffers.
    Update {
        /// Adam (else SGD).
        adam: bool,
        /// Dtype.
        dt: DType,
    },
}

/// The reduce kernel code of an op.
pub fn reduce_code(op: ReduceOp) -> u8 {
    match op {
        ReduceOp::Sum => 0,
        ReduceOp::Mean => 1,
        ReduceOp::Var { .. } => 2,
        ReduceOp::Std { .. } => 3,
    }
}

fn dt_name(dt: DType) -> &'static str {
    match dt {
        DType::F32 => "f32",
        DType::F64 => "f64",
        DType::I32 => "i32",
        DType::I64 => "i64",
        DType::U8 => "u8",
    }
}

impl Kernel {
    /// The kernel's symbol (unique per key).
    pub fn name(&self) -> String {
        match *self {
            Kernel::Map { tag, a, b } => {
                let t = match tag {
                    MapTag::Unary(op) => format!("unary_{}", op.name()),
                    MapTag::Binary(op) => format!("binary_{}", op.name()),
                    MapTag::ScalarRhs(op) => format!("srhs_{}", op.name()),
                    MapTag::ScalarLhs(op) => format!("slhs_{}", op.name()),
                    MapTag::Copy => "copy".into(),
                    MapTag::Cast => "cast".into(),
                    MapTag::Zero => "zero".into(),
                };
                format!("tensile_{t}_{}_{}", dt_name(a), dt_name(b))
            }
            Kernel::Reduce { op, dt } => {
                let n = ["sum", "mean", "var", "std"][op as usize & 3];
                format!("tensile_reduce_{n}_{}", dt_name(dt))
            }
            Kernel::ReduceFinish { op, dt } => {
                let n = ["sum", "mean", "var", "std"][op as usize & 3];
                format!("tensile_reduce_finish_{n}_{}", dt_name(dt))
            }
            Kernel::Extremum { max, dt } => {
                format!(
                    "tensile_{}_{}",
                    if max { "max" } else { "min" },
                    dt_name(dt)
                )
            }
            Kernel::Update { adam, dt } => {
                format!(
                    "tensile_{}_{}",
                    if adam { "adam" } else { "sgd" },
                    dt_name(dt)
                )
            }
        }
    }

    /// Whether the kernel exists (float-only ops need a float dtype).
    pub fn is_valid(&self) -> bool {
        let float = |d: DType| matches!(d, DType::F32 | DType::F64);
        match *self {
            Kernel::Map { tag, a, b } => match tag {
                MapTag::Cast => true,
                MapTag::Copy | MapTag::Zero => a == b,
                _ => a == b && float(a),
            },
            Kernel::Reduce { dt, .. }
            | Kernel::ReduceFinish { dt, .. }
            | Kernel::Update { dt, .. } => float(dt),
            Kernel::Extremum { .. } => true,
        }
    }

    /// The complete CUDA C source of this kernel (prelude included).
    pub fn source(&self) -> String {
        let mut s = String::from(PRELUDE);
        let name = self.name();
        match *self {
            Kernel::Map { tag, a, b } => map_source(&mut s, &name, tag, a, b),
            Kernel::Reduce { op, dt } => reduce_source(&mut s, &name, op, dt),
            Kernel::ReduceFinish { op, dt } => reduce_finish_source(&mut s, &name, op, dt),
            Kernel::Extremum { max, dt } => extremum_source(&mut s, &name, max, dt),
            Kernel::Update { adam, dt } => update_source(&mut s, &name, adam, dt),
        }
        s
    }

    /// Every kernel the device may generate, for the compile test.
    pub fn all() -> Vec<Kernel> {
        let dts = [DType::F32, DType::F64, DType::I32, DType::I64, DType::U8];
        let mut tags = vec![MapTag::Copy, MapTag::Cast, MapTag::Zero];
        tags.extend(UnaryOp::ALL.iter().map(|&o| MapTag::Unary(o)));
        for &o in BinaryOp::ALL {
            tags.extend([
                MapTag::Binary(o),
                MapTag::ScalarRhs(o),
                MapTag::ScalarLhs(o),
            ]);
        }
        let mut out = Vec::new();
        for &tag in &tags {
            for a in dts {
                for b in dts {
                    out.push(Kernel::Map { tag, a, b });
                }
            }
        }
        for dt in dts {
            out.extend((0..4).map(|op| Kernel::Reduce { op, dt }));
            out.extend((0..4).map(|op| Kernel::ReduceFinish { op, dt }));
            out.extend([false, true].map(|max| Kernel::Extremum { max, dt }));
            out.extend([false, true].map(|adam| Kernel::Update { adam, dt }));
        }
        out.retain(Kernel::is_valid);
        out
    }
}

/// The shared part of every kernel: the parameter structs (laid out as the `#[repr(C)]` ones in
/// `kernels.rs`) and the index → offset walk over broadcast strides.
const PRELUDE: &str = r#"
#define MAXR 8
struct Shape { long long n; int rank; int pad; long long dims[MAXR]; };
struct Strides { long long off; long long s[MAXR]; };
// The outermost index needs no division (i < dims[0] by then), so a contiguous tensor (one
// merged dim) costs a multiply-add per element, not a 64-bit division.
__device__ __forceinline__ long long offset_of(const Shape& sh, const Strides& st, long long i) {
    long long o = st.off;
    for (int d = sh.rank - 1; d >= 1; --d) {
        long long q = i / sh.dims[d];
        o += (i - q * sh.dims[d]) * st.s[d];
        i = q;
    }
    return sh.rank > 0 ? o + i * st.s[0] : o;
}
template <typename T> __device__ __forceinline__ bool is_nan(T x) { return x != x; }
"#;

fn map_source(s: &mut String, name: &str, tag: MapTag, a: DType, b: DType) {
    let (ta, tb) = (ctype(a), ctype(b));
    let (params, body) = match tag {
        MapTag::Unary(op) => (
            "Strides xs, Strides ys, const T* xp, T* yp, double s",
            format!(
                "T x = xp[offset_of(sh, xs, i)]; yp[offset_of(sh, ys, i)] = {};",
                unary_expr(op)
            ),
        ),
        MapTag::Binary(op) => (
            "Strides as_, Strides bs, Strides ys, const T* ap, const T* bp, T* yp, double s",
            format!(
                "T a = ap[offset_of(sh, as_, i)]; T b = bp[offset_of(sh, bs, i)]; \
                 yp[offset_of(sh, ys, i)] = {};",
                binary_expr(op)
            ),
        ),
        MapTag::ScalarRhs(op) => (
            "Strides xs, Strides ys, const T* xp, T* yp, double s",
            format!(
                "T a = xp[offset_of(sh, xs, i)]; T b = (T)s; yp[offset_of(sh, ys, i)] = {};",
                binary_expr(op)
            ),
        ),
        MapTag::ScalarLhs(op) => (
            "Strides xs, Strides ys, const T* xp, T* yp, double s",
            format!(
                "T a = (T)s; T b = xp[offset_of(sh, xs, i)]; yp[offset_of(sh, ys, i)] = {};",
                binary_expr(op)
            ),
        ),
        MapTag::Copy => (
            "Strides xs, Strides ys, const T* xp, T* yp, double s",
            "yp[offset_of(sh, ys, i)] = xp[offset_of(sh, xs, i)];".to_string(),
        ),
        MapTag::Cast => (
            "Strides xs, Strides ys, const A* xp, B* yp, double s",
            // Rust's `as`, as the core's Cast. From an integer, C's conversion is the same (one
            // rounding to a float; narrowing integers wrap). From a float, through double
            // (exact), then to an integer written out: truncate, saturate, NaN to 0 (C leaves
            // out-of-range conversions undefined, and PTX's u8 conversion wraps).
            if matches!(a, DType::F32 | DType::F64) {
                format!(
                    "double v = (double)xp[offset_of(sh, xs, i)]; yp[offset_of(sh, ys, i)] = {};",
                    cast_expr(b)
                )
            } else {
                "yp[offset_of(sh, ys, i)] = (B)xp[offset_of(sh, xs, i)];".to_string()
            },
        ),
        MapTag::Zero => (
            "Strides xs, Strides ys, const T* xp, T* yp, double s",
            "yp[offset_of(sh, ys, i)] = (T)0;".to_string(),
        ),
    };
    let _ = write!(
        s,
        "typedef {ta} T; typedef {ta} A; typedef {tb} B;\n\
         extern \"C\" __global__ void {name}(Shape sh, {params}) {{\n\
         \x20   for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < sh.n;\n\
         \x20        i += (long long)gridDim.x * blockDim.x) {{ {body} }}\n\
         }}\n"
    );
}

/// `v` (a double) as dtype `B` with Rust's `as` semantics.
fn cast_expr(b: DType) -> &'static str {
    match b {
        DType::F32 | DType::F64 => "(B)v",
        DType::U8 => "(v != v || v <= 0.0) ? (B)0 : (v >= 255.0 ? (B)255 : (B)v)",
        DType::I32 => {
            "(v != v) ? (B)0 : (v <= -2147483648.0 ? (B)(-2147483647 - 1) : \
             (v >= 2147483647.0 ? (B)2147483647 : (B)v))"
        }
        DType::I64 => {
            "(v != v) ? (B)0 : (v <= -9223372036854775808.0 ? (B)(-9223372036854775807LL - 1) : \
             (v >= 9223372036854775807.0 ? (B)9223372036854775807LL : (B)v))"
        }
    }
}

/// Sum, mean, var, std. A block of `lanes × groups` threads (1D) covers `lanes` consecutive
/// outputs; lane `l` reads output `o = tile * lanes + l`, group `g` every `groups`-th element of
/// the reduced range. `lanes = 32` makes a warp read 32 adjacent outputs (coalesced when the
/// reduced axis is the outer one), `lanes = 1` a warp 32 adjacent reduced elements. With
/// `splits > 1` each block covers a `chunk` of the reduced range and writes a partial sum (in
/// double) to `part[o * splits + split]`, for `tensile_reduce_finish_*`; `mode` 2 sums squared
/// deviations from `means[o]` (var's second pass). `mode` 0 finishes in the block.
fn reduce_source(s: &mut String, name: &str, op: u8, dt: DType) {
    let t = ctype(dt);
    let finish = match op {
        0 => "r = sum;",
        1 => "r = sum / (double)rs.n;",
        _ => {
            "double mean = sum / (double)rs.n; double acc2 = 0.0;\n\
             if (live) for (long long j = g; j < rs.n; j += groups) {\n\
             \x20   double d = (double)x[base + offset_of(rs, rx, j)] - mean; acc2 += d * d; }\n\
             double ss = lane_sum(acc2, sh, lane, lanes, g, groups);\n\
             r = ss / ((double)rs.n - (double)corr);"
        }
    };
    let sqrt = if op == 3 { "r = sqrt(r);" } else { "" };
    let _ = write!(
        s,
        "typedef {t} T;\n\
         // Sums `v` over the groups of each lane; every thread gets its lane's total.\n\
         __device__ double lane_sum(double v, double* sh, int lane, int lanes, int g, int groups) {{\n\
         \x20   sh[threadIdx.x] = v; __syncthreads();\n\
         \x20   for (int k = groups / 2; k > 0; k >>= 1) {{\n\
         \x20       if (g < k) sh[threadIdx.x] += sh[threadIdx.x + k * lanes];\n\
         \x20       __syncthreads(); }}\n\
         \x20   double r = sh[lane]; __syncthreads(); return r;\n\
         }}\n\
         extern \"C\" __global__ void {name}(Shape ks, Strides kx, Strides ky, Shape rs, Strides rx,\n\
         \x20   const T* x, T* y, double* part, const double* means, long long corr, int lanes,\n\
         \x20   int splits, long long chunk, int mode) {{\n\
         \x20   __shared__ double sh[{BLOCK}];\n\
         \x20   int lane = threadIdx.x % lanes, g = threadIdx.x / lanes, groups = blockDim.x / lanes;\n\
         \x20   long long tiles = (ks.n + lanes - 1) / lanes;\n\
         \x20   for (long long b = blockIdx.x; b < tiles * splits; b += gridDim.x) {{\n\
         \x20       long long o = (b / splits) * lanes + lane; long long sp = b % splits;\n\
         \x20       bool live = o < ks.n;\n\
         \x20       long long base = live ? offset_of(ks, kx, o) : 0;\n\
         \x20       long long j0 = sp * chunk, j1 = j0 + chunk < rs.n ? j0 + chunk : rs.n;\n\
         \x20       double acc = 0.0;\n\
         \x20       if (live) {{\n\
         \x20           if (mode == 2) {{\n\
         \x20               double mean = means[o];\n\
         \x20               for (long long j = j0 + g; j < j1; j += groups) {{\n\
         \x20                   double d = (double)x[base + offset_of(rs, rx, j)] - mean; acc += d * d; }}\n\
         \x20           }} else {{\n\
         \x20               for (long long j = j0 + g; j < j1; j += groups) acc += (double)x[base + offset_of(rs, rx, j)];\n\
         \x20           }}\n\
         \x20       }}\n\
         \x20       double sum = lane_sum(acc, sh, lane, lanes, g, groups);\n\
         \x20       if (mode != 0) {{\n\
         \x20           if (live && g == 0) part[o * splits + sp] = sum;\n\
         \x20           continue;\n\
         \x20       }}\n\
         \x20       double r;\n\
         \x20       {{ {finish} }}\n\
         \x20       {sqrt}\n\
         \x20       if (live && g == 0) y[offset_of(ks, ky, o)] = (T)r;\n\
         \x20   }}\n\
         }}\n"
    );
}

/// Combines the partial sums of a split reduction, one thread per output, in split order (so
/// results do not depend on timing). `mode` 0 writes the op's result from sums, 1 writes the
/// means for var's second pass, 2 writes var/std from squared deviations.
fn reduce_finish_source(s: &mut String, name: &str, op: u8, dt: DType) {
    let t = ctype(dt);
    let sqrt = if op == 3 { "r = sqrt(r);" } else { "" };
    let from_sums = if op == 1 {
        "r = s / (double)rn;"
    } else {
        "r = s;"
    };
    let _ = write!(
        s,
        "typedef {t} T;\n\
         extern \"C\" __global__ void {name}(Shape ks, Strides ky, const double* part, double* means,\n\
         \x20   T* y, long long rn, long long corr, int splits, int mode) {{\n\
         \x20   for (long long o = (long long)blockIdx.x * blockDim.x + threadIdx.x; o < ks.n;\n\
         \x20        o += (long long)gridDim.x * blockDim.x) {{\n\
         \x20       double s = 0.0;\n\
         \x20       for (int i = 0; i < splits; ++i) s += part[o * splits + i];\n\
         \x20       double r;\n\
         \x20       if (mode == 1) {{ means[o] = s / (double)rn; continue; }}\n\
         \x20       if (mode == 2) {{ r = s / ((double)rn - (double)corr); {sqrt} }}\n\
         \x20       else {{ {from_sums} }}\n\
         \x20       y[offset_of(ks, ky, o)] = (T)r;\n\
         \x20   }}\n\
         }}\n"
    );
}

/// One block per output; each thread scans its elements in order, then pairs combine by value
/// and, on ties (or two NaNs), by the smaller index: the first extreme, NaN winning.
fn extremum_source(s: &mut String, name: &str, max: bool, dt: DType) {
    let t = ctype(dt);
    let cmp = if max { ">" } else { "<" };
    let _ = write!(
        s,
        "typedef {t} T;\n\
         __device__ __forceinline__ bool better(T c, T b) {{ return (c {cmp} b || is_nan(c)) && !is_nan(b); }}\n\
         extern \"C\" __global__ void {name}(Shape ks, Strides kx, Strides kv, Strides ki, Shape rs,\n\
         \x20   Strides rx, const T* x, T* vals, long long* idx, int lanes) {{\n\
         \x20   __shared__ T sv[{BLOCK}]; __shared__ long long si[{BLOCK}];\n\
         \x20   int lane = threadIdx.x % lanes, g = threadIdx.x / lanes, groups = blockDim.x / lanes;\n\
         \x20   long long tiles = (ks.n + lanes - 1) / lanes;\n\
         \x20   for (long long b = blockIdx.x; b < tiles; b += gridDim.x) {{\n\
         \x20       long long o = b * lanes + lane;\n\
         \x20       bool live = o < ks.n;\n\
         \x20       long long base = live ? offset_of(ks, kx, o) : 0;\n\
         \x20       T best = (T)0; long long bi = -1;\n\
         \x20       if (live) for (long long j = g; j < rs.n; j += groups) {{\n\
         \x20           T v = x[base + offset_of(rs, rx, j)];\n\
         \x20           if (bi < 0 || better(v, best)) {{ best = v; bi = j; }}\n\
         \x20       }}\n\
         \x20       sv[threadIdx.x] = best; si[threadIdx.x] = bi; __syncthreads();\n\
         \x20       for (int k = groups / 2; k > 0; k >>= 1) {{\n\
         \x20           if (g < k) {{\n\
         \x20               int u = threadIdx.x + k * lanes;\n\
         \x20               T cv = sv[u]; long long ci = si[u];\n\
         \x20               T bv = sv[threadIdx.x]; long long bj = si[threadIdx.x];\n\
         \x20               if (ci >= 0 && (bj < 0 || better(cv, bv) || (!better(bv, cv) && ci < bj))) {{\n\
         \x20                   sv[threadIdx.x] = cv; si[threadIdx.x] = ci; }}\n\
         \x20           }}\n\
         \x20           __syncthreads();\n\
         \x20       }}\n\
         \x20       if (live && g == 0) {{\n\
         \x20           if (vals) vals[offset_of(ks, kv, o)] = sv[lane];\n\
         \x20           if (idx) idx[offset_of(ks, ki, o)] = si[lane];\n\
         \x20       }}\n\
         \x20       __syncthreads();\n\
         \x20   }}\n\
         }}\n"
    );
}

/// The optimizer rules of `tensile_core::ops::optim`, with the per-call coefficients computed
/// on the device from the learning rate and step count in `hyper` (so a replayed CUDA graph
/// sees their current values).
fn update_source(s: &mut String, name: &str, adam: bool, dt: DType) {
    let t = ctype(dt);
    let body = if adam {
        "T lr = hyper[0]; double step = (double)hyper[1];\n\
         T c1 = (T)(1.0 / (1.0 - pow(h0, step))); T c2 = (T)(1.0 / (1.0 - pow(h1, step)));\n\
         T b1 = (T)h0, b2 = (T)h1, eps = (T)h2, wd = (T)h3;\n\
         for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {\n\
         \x20   T d = g[i] + wd * p[i];\n\
         \x20   T m = b1 * s1[i] + ((T)1 - b1) * d; s1[i] = m;\n\
         \x20   T v = b2 * s2[i] + ((T)1 - b2) * (d * d); s2[i] = v;\n\
         \x20   T mh = m * c1; T vh = v * c2;\n\
         \x20   p[i] = p[i] - lr * mh / (sqrt(vh) + eps);\n\
         }"
    } else {
        // h0 momentum, h1 dampening, h2 weight decay, flag nesterov.
        "T lr = hyper[0]; T mom = (T)h0; T damp = (T)1 - (T)h1; T wd = (T)h2;\n\
         for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {\n\
         \x20   T d = g[i] + wd * p[i];\n\
         \x20   if (h0 != 0.0) {\n\
         \x20       T buf = mom * s1[i] + damp * d; s1[i] = buf;\n\
         \x20       d = flag ? d + mom * buf : buf;\n\
         \x20   }\n\
         \x20   p[i] = p[i] - lr * d;\n\
         }"
    };
    let _ = write!(
        s,
        "typedef {t} T;\n\
         extern \"C\" __global__ void {name}(long long n, T* p, T* s1, T* s2, const T* g, const T* hyper,\n\
         \x20   double h0, double h1, double h2, double h3, int flag) {{\n{body}\n}}\n"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_op_has_an_expression_and_every_kernel_a_unique_name() {
        let all = Kernel::all();
        let mut names: Vec<String> = all.iter().map(Kernel::name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len());
        for &op in UnaryOp::ALL {
            let k = Kernel::Map {
                tag: MapTag::Unary(op),
                a: DType::F32,
                b: DType::F32,
            };
            assert!(all.contains(&k), "{op:?} has no f32 kernel");
            assert!(k.source().contains(unary_expr(op)));
        }
        for &op in BinaryOp::ALL {
            let k = Kernel::Map {
                tag: MapTag::Binary(op),
                a: DType::F64,
                b: DType::F64,
            };
            assert!(all.contains(&k), "{op:?} has no f64 kernel");
        }
        // Float-only kernels are not generated for integers.
        assert!(!Kernel::Reduce {
            op: 0,
            dt: DType::I32
        }
        .is_valid());
        assert!(Kernel::Extremum {
            max: true,
            dt: DType::U8
        }
        .is_valid());
    }
}
