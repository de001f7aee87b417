// CUDA's kernel dialect on the CPU, for running generated kernels without a GPU: each block's
// threads are std::threads that meet at __syncthreads() on a barrier; blocks run one after
// another, so a function-local `static` stands for __shared__ memory.
#include <barrier>
#include <cmath>
#include <cstddef>
#include <thread>
#include <utility>
#include <vector>
#include <type_traits>

using std::exp; using std::log; using std::sqrt; using std::fabs; using std::tanh; using std::pow;

struct emu_dim3 { unsigned x = 0, y = 0, z = 0; };
static thread_local emu_dim3 threadIdx, blockIdx;
static emu_dim3 blockDim, gridDim;
static std::barrier<>* emu_barrier = nullptr;

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
static inline void __syncthreads() { emu_barrier->arrive_and_wait(); }

template <typename... P, std::size_t... I>
static void emu_call(void (*f)(P...), void** a, std::index_sequence<I...>) {
    f(*static_cast<std::remove_reference_t<P>*>(a[I])...);
}

template <typename... P>
static void emu_grid(void (*f)(P...), unsigned grid, unsigned block, void** args) {
    gridDim.x = grid; blockDim.x = block;
    std::barrier<> bar(block);
    emu_barrier = &bar;
    for (unsigned b = 0; b < grid; ++b) {
        std::vector<std::thread> ts;
        ts.reserve(block);
        for (unsigned t = 0; t < block; ++t) {
            ts.emplace_back([=] {
                threadIdx.x = t; blockIdx.x = b;
                emu_call(f, args, std::index_sequence_for<P...>{});
            });
        }
        for (auto& t : ts) t.join();
    }
}
