//! PyTorch-style printing (`tensor([[5., 8.], [4., 6.]])`), without an allocator: every tensor
//! face formats through [`fmt_tensor`] with a row-major element getter.

use core::fmt::{self, Write};

use crate::dtype::{DType, Elem};
use crate::shape::Shape;

/// Above this many elements the middle of each dim is elided (PyTorch's `threshold`).
const THRESHOLD: usize = 1000;
/// Elements shown at each end of an elided dim.
const EDGE: usize = 3;
const LINE_WIDTH: usize = 80;
const PRECISION: usize = 4;

#[derive(Clone, Copy)]
enum Mode {
    Int,
    FloatInt,
    Fixed,
    Sci,
}

/// A fixed-capacity string for measuring one formatted element.
struct Stack {
    buf: [u8; 48],
    len: usize,
}

impl Write for Stack {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let b = s.as_bytes();
        let end = self.len + b.len();
        if end > self.buf.len() {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(b);
        self.len = end;
        Ok(())
    }
}

impl Stack {
    fn new() -> Stack {
        Stack {
            buf: [0; 48],
            len: 0,
        }
    }
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
    }
}

fn fmt_elem<E: Elem>(v: E, mode: Mode, out: &mut impl Write) -> fmt::Result {
    let x = v.to_f64();
    match mode {
        Mode::Int => write!(out, "{v}"),
        _ if x.is_nan() => out.write_str("nan"),
        _ if x.is_infinite() => out.write_str(if x > 0.0 { "inf" } else { "-inf" }),
        Mode::FloatInt => write!(out, "{x:.0}."),
        Mode::Fixed => write!(out, "{x:.PRECISION$}"),
        Mode::Sci => {
            let mut s = Stack::new();
            write!(s, "{x:.PRECISION$e}")?;
            let text = s.as_str();
            let (mant, exp) = text.split_once('e').unwrap_or((text, "0"));
            let e: i32 = exp.parse().unwrap_or(0);
            let sign = if e < 0 { '-' } else { '+' };
            write!(out, "{mant}e{sign}{:02}", e.unsigned_abs())
        }
    }
}

/// Visits the row-major flat indices that are printed (all, or the edges when summarizing).
fn walk(dims: &[usize], summarize: bool, base: usize, f: &mut impl FnMut(usize)) {
    if dims.is_empty() {
        f(base);
        return;
    }
    let inner: usize = dims[1..].iter().product();
    let d = dims[0];
    let show = |i: usize| !summarize || d <= 2 * EDGE || i < EDGE || i >= d - EDGE;
    for i in (0..d).filter(|&i| show(i)) {
        walk(&dims[1..], summarize, base + i * inner, f);
    }
}

/// Formats a tensor of `shape` whose row-major element `i` is `get(i)`, like PyTorch.
pub fn fmt_tensor<E: Elem>(
    f: &mut fmt::Formatter<'_>,
    shape: &Shape,
    get: impl Fn(usize) -> E,
) -> fmt::Result {
    let n = shape.numel();
    let summarize = n > THRESHOLD;
    let dims = shape.dims();
    // Pick the number format from the printed values, as PyTorch's _Formatter does.
    let mode = if E::DTYPE.is_float() {
        let (mut all_int, mut lo, mut hi) = (true, f64::INFINITY, 0f64);
        walk(dims, summarize, 0, &mut |i| {
            let x = get(i).to_f64();
            if x.is_finite() {
                all_int &= x == libm::trunc(x);
                let a = libm::fabs(x);
                if a != 0.0 {
                    lo = lo.min(a);
                    hi = hi.max(a);
                }
            }
        });
        let wide = hi > 0.0 && (hi / lo > 1000.0 || hi > 1e8);
        if all_int {
            if wide {
                Mode::Sci
            } else {
                Mode::FloatInt
            }
        } else if wide || (hi > 0.0 && lo < 1e-4) {
            Mode::Sci
        } else {
            Mode::Fixed
        }
    } else {
        Mode::Int
    };
    let mut width = 0usize;
    walk(dims, summarize, 0, &mut |i| {
        let mut s = Stack::new();
        let _ = fmt_elem(get(i), mode, &mut s);
        width = width.max(s.len);
    });
    f.write_str("tensor(")?;
    if n == 0 {
        f.write_str("[]")?;
    } else {
        let ctx = Ctx {
            get: &get,
            mode,
            width,
            summarize,
        };
        ctx.block(f, dims, 0, 7)?;
    }
    if n == 0 && shape.rank() != 1 {
        f.write_str(", size=(")?;
        for (i, d) in dims.iter().enumerate() {
            write!(f, "{}{d}", if i > 0 { ", " } else { "" })?;
        }
        f.write_str(if dims.len() == 1 { ",)" } else { ")" })?;
    }
    match E::DTYPE {
        DType::F32 | DType::I64 => {}
        d => write!(f, ", dtype={d}")?,
    }
    f.write_str(")")
}

struct Ctx<'a, G> {
    get: &'a G,
    mode: Mode,
    width: usize,
    summarize: bool,
}

impl<G: Fn(usize) -> E, E: Elem> Ctx<'_, G> {
    fn elem(&self, f: &mut fmt::Formatter<'_>, i: usize) -> fmt::Result {
        let mut s = Stack::new();
        fmt_elem((self.get)(i), self.mode, &mut s)?;
        write!(f, "{:>w$}", s.as_str(), w = self.width)
    }

    fn block(
        &self,
        f: &mut fmt::Formatter<'_>,
        dims: &[usize],
        base: usize,
        indent: usize,
    ) -> fmt::Result {
        if dims.is_empty() {
            return self.elem(f, base);
        }
        let d = dims[0];
        let inner: usize = dims[1..].iter().product();
        let elide = self.summarize && d > 2 * EDGE;
        let shown = |i: usize| !elide || i < EDGE || i >= d - EDGE;
        f.write_str("[")?;
        if dims.len() == 1 {
            let per_line = ((LINE_WIDTH.saturating_sub(indent)) / (self.width + 2)).max(1);
            let mut on_line = 0;
            let mut first = true;
            for i in 0..d {
                if !shown(i) {
                    if i == EDGE {
                        f.write_str(", ...")?;
                    }
                    continue;
                }
                if !first {
                    if on_line == per_line && !elide {
                        write!(f, ",\n{:indent$}", "", indent = indent + 1)?;
                        on_line = 0;
                    } else {
                        f.write_str(", ")?;
                    }
                }
                first = false;
                self.elem(f, base + i * inner)?;
                on_line += 1;
            }
        } else {
            let mut first = true;
            for i in 0..d {
                if !shown(i) {
                    if i == EDGE {
                        f.write_str(",")?;
                        for _ in 0..dims.len() - 1 {
                            f.write_str("\n")?;
                        }
                        write!(f, "{:indent$}...", "", indent = indent + 1)?;
                    }
                    continue;
                }
                if !first {
                    f.write_str(",")?;
                    for _ in 0..dims.len() - 1 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{:indent$}", "", indent = indent + 1)?;
                }
                first = false;
                self.block(f, &dims[1..], base + i * inner, indent + 1)?;
            }
        }
        f.write_str("]")
    }
}
