//! Optimizer rules as update-op tags (PyTorch's formulas): the device runs them in place.

use crate::device::UpdateFn;

/// Which optimizer an update op is, with its settings (for devices that generate kernels).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UpdateKind {
    /// SGD.
    Sgd(Sgd),
    /// Adam.
    Adam(Adam),
}
use crate::dtype::Float;

/// SGD with momentum, dampening, Nesterov and L2 weight decay (`torch.optim.SGD`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Sgd {
    /// Momentum factor (0 = plain SGD, no state).
    pub momentum: f64,
    /// Dampening of the momentum update.
    pub dampening: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
}

impl Default for Sgd {
    fn default() -> Self {
        Sgd {
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }
}

impl<E: Float> UpdateFn<E> for Sgd {
    const NAME: &'static str = "sgd";
    const STATE: usize = 1;
    fn kind(&self) -> UpdateKind {
        UpdateKind::Sgd(*self)
    }
    fn prepare(&self, lr: E, _step: E) -> [E; 4] {
        [
            lr,
            E::from_f64(self.momentum),
            // In E, not f64: no soft-float f64 on a microcontroller (the CUDA kernel agrees).
            E::ONE.sub(E::from_f64(self.dampening)),
            E::from_f64(self.weight_decay),
        ]
    }
    #[inline(always)]
    fn apply(&self, c: &[E; 4], p: &mut E, buf: &mut E, _s2: &mut E, g: E) {
        let mut d = g.add(c[3].mul(*p));
        if self.momentum != 0.0 {
            // buf starts at 0, so the first step gives buf = (1 - dampening) * d; PyTorch sets
            // buf = d on its first step, which only differs when dampening != 0.
            *buf = c[1].mul(*buf).add(c[2].mul(d));
            d = if self.nesterov {
                d.add(c[1].mul(*buf))
            } else {
                *buf
            };
        }
        *p = p.sub(c[0].mul(d));
    }
}

/// Adam with L2 weight decay (`torch.optim.Adam`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Adam {
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
}

impl Default for Adam {
    fn default() -> Self {
        Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

impl<E: Float> UpdateFn<E> for Adam {
    const NAME: &'static str = "adam";
    const STATE: usize = 2;
    fn kind(&self) -> UpdateKind {
        UpdateKind::Adam(*self)
    }
    fn prepare(&self, lr: E, step: E) -> [E; 4] {
        let t = step.to_f64();
        [
            lr,
            E::from_f64(1.0 / (1.0 - libm::pow(self.beta1, t))),
            E::from_f64(1.0 / (1.0 - libm::pow(self.beta2, t))),
            E::from_f64(self.weight_decay),
        ]
    }
    #[inline(always)]
    fn apply(&self, c: &[E; 4], p: &mut E, m: &mut E, v: &mut E, g: E) {
        let (b1, b2) = (E::from_f64(self.beta1), E::from_f64(self.beta2));
        let d = g.add(c[3].mul(*p));
        *m = b1.mul(*m).add(E::ONE.sub(b1).mul(d));
        *v = b2.mul(*v).add(E::ONE.sub(b2).mul(d.mul(d)));
        let m_hat = m.mul(c[1]);
        let v_hat = v.mul(c[2]);
        *p = p.sub(c[0].mul(m_hat).div(v_hat.sqrt().add(E::from_f64(self.eps))));
    }
}
