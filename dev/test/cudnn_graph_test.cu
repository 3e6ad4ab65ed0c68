/*
 * dev/test/cudnn_graph_test.cu: the attention graphs of llmc/cudnn_att.cuh pass cuDNN's own
 * validation without a GPU. From cuDNN 9.8 an operation graph finalizes without a handle, and
 * finalizing checks every operation's inputs and outputs: operation kinds, tensor dimensions,
 * strides, data types, broadcasts. (Whether an engine exists for the graph needs the GPU:
 * dev/test/gpu_check.sh.)
 *
 *   cudnn_graph_test           both directions at the shapes below; "ok" / "not ok" per graph
 *   cudnn_graph_test broken    a graph with Q K^T's inner dimensions mismatched (K not
 *                              transposed): must be refused (exit status 1, an error line)
 */
#define USE_CUDNN 1
#include "../../llmc/cudnn_att.cuh"

// A forward whose first matmul multiplies Q (T x HS) by K given as rows (T x HS), not K^T.
static cudnnStatus_t broken_graph(void) {
    CudnnAttGraph g;
    memset(&g, 0, sizeof(g));
    CattBuild b;
    memset(&b, 0, sizeof(b));
    b.g = &g;
    b.next_uid = 100;
    const CattShape s = {2, 4, 32, 64};
    cudnnBackendDescriptor_t q = catt_qkv_rows(&b, CATT_Q, &s), k = catt_qkv_rows(&b, CATT_K, &s);
    catt_matmul(&b, q, k, catt_scores(&b, &s, CUDNN_DATA_FLOAT));
    cudnnBackendDescriptor_t graph = catt_new(&b, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    catt_set(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, b.num_ops, b.ops);
    cudnnStatus_t st = cudnnBackendFinalize(graph);
    cudnn_att_destroy(&g);
    return st;
}

int main(int argc, char **argv) {
    if (cudnnGetVersion() < 90800) {
        printf("not ok cudnn_graph: cuDNN %zu finalizes graphs only with a GPU handle (needs 9.8+)\n", cudnnGetVersion());
        return 1;
    }
    if (argc > 1 && strcmp(argv[1], "broken") == 0) {
        // catt_matmul may already stop the program when cuDNN refuses the operation itself
        cudnnStatus_t st = broken_graph();
        if (st == CUDNN_STATUS_SUCCESS) {
            printf("cuDNN accepted a matmul of (32 x 64) by (32 x 64)\n");
            return 0;
        }
        fprintf(stderr, "error: cuDNN refused the broken graph: %s\n", cudnnGetErrorString(st));
        return 1;
    }
    // B, T, NH, HS: test_gpt2cu's d12 and odd shapes, d12 and d48 training, T = 1 (sampling),
    // HS 128, a short odd T
    static const int SHAPES[][4] = {{4, 64, 12, 64}, {3, 37, 3, 16},  {64, 1024, 12, 64}, {8, 1024, 25, 64},
                                    {2, 1, 12, 64},  {1, 100, 2, 128}, {2, 5, 2, 64}};
    int fails = 0;
    for (size_t i = 0; i < sizeof(SHAPES) / sizeof(SHAPES[0]); i++) {
        for (int backward = 0; backward < 2; backward++) {
            const int *sh = SHAPES[i];
            CudnnAttGraph g;
            cudnnBackendDescriptor_t graph;
            cudnnStatus_t st = cudnn_att_operation_graph(&g, backward, sh[0], sh[1], sh[2], sh[3], NULL, &graph);
            char detail[256] = "";
            if (st != CUDNN_STATUS_SUCCESS) cudnnGetLastErrorString(detail, sizeof(detail));
            for (char *p = detail; *p; p++) if (*p == '\n') *p = ' ';
            printf("%s cudnn_graph_%s_B%d_T%d_NH%d_HS%d%s%s%s\n", st == CUDNN_STATUS_SUCCESS ? "ok" : "not ok",
                   backward ? "backward" : "forward", sh[0], sh[1], sh[2], sh[3], st == CUDNN_STATUS_SUCCESS ? "" : ": ",
                   st == CUDNN_STATUS_SUCCESS ? "" : cudnnGetErrorString(st), detail);
            fails += st != CUDNN_STATUS_SUCCESS;
            cudnn_att_destroy(&g);
        }
    }
    return fails == 0 ? 0 : 1;
}
