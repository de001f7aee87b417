//! The device traits are pluggable: a device defined outside the core (here, in a test) gets the
//! whole tensor API. `Counting` delegates every kernel to `Reference` and counts the calls per
//! kernel family, which also shows what reaches a device: movement ops are layout rewrites and
//! never call a kernel, and only an optimizer step reaches `Update`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tensile_conformance::{corpus_dir, load_corpus, run_corpus, Front};
use tensile_core::graph::{Graph, Training};
use tensile_core::ops::{BinaryFn, UnaryFn};
use tensile_core::{
    Alloc, Axes, Backend, DType, Elem, Extremum, Float, Host, Layout, Map, MatMul, Reduce,
    ReduceOp, Reference, Result, Tensor, Update, UpdateFn,
};

/// Kernel calls per family.
#[derive(Debug, Default)]
struct Counts {
    map: AtomicUsize,
    reduce: AtomicUsize,
    matmul: AtomicUsize,
    update: AtomicUsize,
}

/// A device outside the core: `Reference`'s kernels, counted.
#[derive(Clone, Debug, Default)]
struct Counting {
    inner: Reference,
    counts: Arc<Counts>,
}

impl Counting {
    fn hit(c: &AtomicUsize) {
        c.fetch_add(1, Ordering::Relaxed);
    }
    /// `(map, reduce, matmul)` calls so far.
    fn calls(&self) -> (usize, usize, usize) {
        let c = &self.counts;
        (
            c.map.load(Ordering::Relaxed),
            c.reduce.load(Ordering::Relaxed),
            c.matmul.load(Ordering::Relaxed),
        )
    }
    /// Optimizer update calls so far.
    fn updates(&self) -> usize {
        self.counts.update.load(Ordering::Relaxed)
    }
}

impl Backend for Counting {
    type Mem<E: Elem> = [E];
    fn name(&self) -> &str {
        "counting"
    }
    fn mem_len<E: Elem>(mem: &[E]) -> usize {
        mem.len()
    }
}

impl Host for Counting {
    fn mem<E: Elem>(s: &[E]) -> &[E] {
        s
    }
    fn mem_mut<E: Elem>(s: &mut [E]) -> &mut [E] {
        s
    }
    fn slice<E: Elem>(m: &[E]) -> &[E] {
        m
    }
}

impl Map for Counting {
    fn unary<A: Elem, B: Elem, O: UnaryFn<A, B>>(
        &self,
        op: O,
        x: &[A],
        xl: &Layout,
        y: &mut [B],
        yl: &Layout,
    ) -> Result<()> {
        Self::hit(&self.counts.map);
        self.inner.unary(op, x, xl, y, yl)
    }
    fn binary<E: Elem, O: BinaryFn<E>>(
        &self,
        op: O,
        a: &[E],
        al: &Layout,
        b: &[E],
        bl: &Layout,
        y: &mut [E],
        yl: &Layout,
    ) -> Result<()> {
        Self::hit(&self.counts.map);
        self.inner.binary(op, a, al, b, bl, y, yl)
    }
}

impl Reduce for Counting {
    fn reduce<E: Float>(
        &self,
        op: ReduceOp,
        x: &[E],
        xl: &Layout,
        axes: Axes,
        y: &mut [E],
        yl: &Layout,
    ) -> Result<()> {
        Self::hit(&self.counts.reduce);
        self.inner.reduce(op, x, xl, axes, y, yl)
    }
    fn extremum<E: Elem>(
        &self,
        op: Extremum,
        x: &[E],
        xl: &Layout,
        axes: Axes,
        values: Option<(&mut [E], &Layout)>,
        indices: Option<(&mut [i64], &Layout)>,
    ) -> Result<()> {
        Self::hit(&self.counts.reduce);
        self.inner.extremum(op, x, xl, axes, values, indices)
    }
}

impl MatMul for Counting {
    fn matmul<E: Float>(
        &self,
        a: &[E],
        al: &Layout,
        b: &[E],
        bl: &Layout,
        y: &mut [E],
        yl: &Layout,
    ) -> Result<()> {
        Self::hit(&self.counts.matmul);
        self.inner.matmul(a, al, b, bl, y, yl)
    }
}

impl Update for Counting {
    fn update<E: Float, O: UpdateFn<E>>(
        &self,
        op: O,
        p: &mut [E],
        s1: &mut [E],
        s2: &mut [E],
        g: &[E],
        hyper: &[E],
    ) -> Result<()> {
        Self::hit(&self.counts.update);
        self.inner.update(op, p, s1, s2, g, hyper)
    }
}

impl Alloc for Counting {
    type Buf<E: Elem> = Vec<E>;
    fn alloc_zeroed<E: Elem>(&self, len: usize) -> Result<Vec<E>> {
        self.inner.alloc_zeroed(len)
    }
    fn upload<E: Elem>(&self, src: &[E]) -> Result<Vec<E>> {
        self.inner.upload(src)
    }
    fn download<E: Elem>(&self, src: &[E], dst: &mut [E]) -> Result<()> {
        self.inner.download(src, dst)
    }
    fn buf_mem<E: Elem>(buf: &Vec<E>) -> &[E] {
        buf
    }
    fn buf_mem_mut<E: Elem>(buf: &mut Vec<E>) -> &mut [E] {
        buf
    }
}

type T = Tensor<f32, Counting>;

#[test]
fn ops_run_on_an_external_device_and_reach_its_kernels() {
    let dev = Counting::default();
    let a = T::from_slice_on(&[1., 2., 3., 4., 5., 6.], [2, 3], &dev).unwrap();
    let b = T::from_slice_on(&[10., 20., 30.], [3], &dev).unwrap();
    assert_eq!(a.device().name(), "counting");
    assert_eq!(dev.calls(), (0, 0, 0), "uploads are not kernels");

    // Broadcast add: one map kernel.
    let s = a.add(&b).unwrap();
    assert_eq!(s.dims(), &[2, 3]);
    assert_eq!(s.to_vec().unwrap(), [11., 22., 33., 14., 25., 36.]);
    assert_eq!(dev.calls(), (1, 0, 0));

    // A scalar on the left (`2 - a`): one map kernel.
    let r = a
        .binary_scalar(tensile_core::BinaryOp::Sub, 2.0, false)
        .unwrap();
    assert_eq!(r.to_vec().unwrap(), [1., 0., -1., -2., -3., -4.]);
    assert_eq!(dev.calls(), (2, 0, 0));

    // Reductions: one reduce kernel each (max values and argmax go through `extremum`).
    let col = a.sum(&[0], false).unwrap();
    assert_eq!(
        (col.dims(), col.to_vec().unwrap()),
        (&[3][..], vec![5., 7., 9.])
    );
    let var = a.var(&[1], 1, true).unwrap();
    assert_eq!(
        (var.dims(), var.to_vec().unwrap()),
        (&[2, 1][..], vec![1., 1.])
    );
    let am = s.argmax(Some(-1), false).unwrap();
    assert_eq!(am.to_vec().unwrap(), [2, 2]);
    assert_eq!(dev.calls(), (2, 3, 0));

    // Movement ops are layout rewrites: no kernel at all.
    let at = a.transpose(0, 1).unwrap();
    let p = a.unsqueeze(0).unwrap().permute(&[2, 0, 1]).unwrap();
    let bb = b.broadcast_to(&[4, 3]).unwrap();
    let v = a.reshape(&[3, 2]).unwrap();
    assert_eq!(
        (at.dims(), p.dims(), bb.dims()),
        (&[3, 2][..], &[3, 1, 2][..], &[4, 3][..])
    );
    assert!(!at.is_contiguous() && v.is_contiguous());
    assert_eq!(
        dev.calls(),
        (2, 3, 0),
        "movement ops must not call a kernel"
    );

    // Materializing a view is one copy (a map kernel); a contiguous tensor is not copied.
    let atc = at.contiguous().unwrap();
    assert_eq!(atc.to_vec().unwrap(), [1., 4., 2., 5., 3., 6.]);
    assert_eq!(dev.calls(), (3, 3, 0));
    let _ = atc.contiguous().unwrap();
    assert_eq!(dev.calls(), (3, 3, 0));

    // matmul with a transposed (strided) operand: one matmul kernel, no copy.
    let g = a.matmul(&at).unwrap();
    assert_eq!(
        (g.dims(), g.to_vec().unwrap()),
        (&[2, 2][..], vec![14., 32., 32., 77.])
    );
    let mv = a.matmul(&b).unwrap();
    assert_eq!(
        (mv.dims(), mv.to_vec().unwrap()),
        (&[2][..], vec![140., 320.])
    );
    assert_eq!(dev.calls(), (3, 3, 2));

    // Errors are raised by the core before any kernel runs.
    assert!(a.matmul(&a).is_err());
    assert!(a.add(&v).is_err());
    assert!(a.mean(&[2], false).is_err());
    assert_eq!(dev.calls(), (3, 3, 2));

    // Reading a strided view copies it first (one map kernel).
    assert_eq!(at.to_vec().unwrap(), [1., 4., 2., 5., 3., 6.]);
    assert_eq!(dev.calls(), (4, 3, 2));

    // Casting is a map kernel too.
    let d = a.cast::<f64>().unwrap();
    assert_eq!(d.to_vec().unwrap(), [1., 2., 3., 4., 5., 6.]);
    assert_eq!(dev.calls(), (5, 3, 2));
    assert_eq!(dev.updates(), 0, "only optimizer steps call `update`");
}

#[test]
fn a_graph_training_step_reaches_the_update_kernel() {
    let dev = Counting::default();
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, &[4, 3]).unwrap();
    let w = g.param("w", DType::F32, &[3, 1]).unwrap();
    let y = g.matmul(x, w).unwrap();
    let t = g.input("t", DType::F32, &[4, 1]).unwrap();
    let loss = g.mse(y, t).unwrap();
    g.backward(loss).unwrap();
    g.plan(&[loss], Training::Sgd(Default::default())).unwrap();
    let mut s = g.session(dev.clone()).unwrap();
    s.input_mut::<f32>(x)
        .unwrap()
        .copy_from_slice(&[1., 0., 0., 0., 1., 0., 0., 0., 1., 1., 1., 1.]);
    s.input_mut::<f32>(t)
        .unwrap()
        .copy_from_slice(&[1., 2., 3., 6.]);
    s.set_lr(0.1).unwrap();
    assert_eq!(dev.updates(), 0, "a session starts without updating");

    // Forward and backward alone never update a parameter.
    s.forward().unwrap();
    s.backward().unwrap();
    let (map, reduce, matmul) = dev.calls();
    assert!(map > 0 && reduce > 0 && matmul > 0, "{:?}", dev.calls());
    assert_eq!(dev.updates(), 0);

    // One optimizer step: one update kernel per parameter.
    s.step().unwrap();
    assert_eq!(dev.updates(), 1);
    for _ in 0..199 {
        s.train_step().unwrap();
    }
    assert_eq!(dev.updates(), 200);
    let w_now = s.read::<f32>(w).unwrap();
    assert!((w_now.get(&[2, 0]).unwrap() - 3.0).abs() < 1e-3);
}

#[test]
fn the_corpus_passes_on_an_external_device() {
    let corpus = load_corpus(&corpus_dir()).unwrap();
    for &front in Front::ALL {
        let dev = Counting::default();
        let report = run_corpus(front, &dev, &corpus, &[]);
        let totals = report.totals();
        assert_eq!(
            totals.failed, 0,
            "failures on the counting device:\n{report}"
        );
        assert!(totals.passed > 0, "{report}");
        let (map, reduce, matmul) = dev.calls();
        assert!(
            map > 0 && reduce > 0 && matmul > 0,
            "{front:?}: {:?}",
            dev.calls()
        );
        // Neither front trains: gradients only, no optimizer step.
        assert_eq!(dev.updates(), 0, "{front:?}");
    }
}
