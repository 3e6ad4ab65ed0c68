// llmc/cpu_matmul.h compiles as C++ (the trainer's headers are included by .cu files) and runs.
#include "llmc/cpu_matmul.h"
int main() {
    float x[1] = {0};
    matmul_forward_cpu(x, x, x, 0, 1, 1, 1);
    matmul_backward_cpu(x, x, x, x, x, x, 1, 1, 1);
    return x[0] != 0.0f;
}
