// llmc/cpu_matmul.h and llmc/cpu_matmul_bf16.h compile as C++ (the trainer's headers are
// included by .cu files) and run.
#include "llmc/cpu_matmul.h"
#include "llmc/cpu_matmul_bf16.h"
int main() {
    float x[1] = {0};
    uint16_t h[1] = {0};
    matmul_forward_cpu(x, x, x, 0, 1, 1, 1);
    matmul_backward_cpu(x, x, x, x, x, x, 1, 1, 1);
    matmul_forward_bf16(x, x, h, 0, 1, 1, 1);
    matmul_backward_bf16(x, x, x, x, x, h, 1, 1, 1);
    return x[0] != 0.0f;
}
