/*
 * dev/test/cudnn_graph_test.cu: the attention graphs of llmc/cudnn_att.cuh pass cuDNN's own
 * validation without a GPU. From cuDNN 9.8 an operation graph finalizes without a handle, and
 * finalizing checks every operation's inputs and outputs: operation kinds, tensor dimensions,
 * strides, data types, broadcasts.
 *
 *   cudnn_graph_test           both directions at the shapes below; "ok" / "not ok" per graph
 *   cudnn_graph_test broken    a graph with Q K^T's inner dimensions mismatched (K not
 *                              transposed): must be refused (exit status 1, an error line)
 *   cudnn_graph_test engines   cuDNN's heuristics, asked for an H200 (sm_90) and an A100 (sm_80)
 *                              described by a device-properties descriptor (no GPU: cuDNN >= 9.8
 *                              allows it), must offer at least one engine configuration that
 *                              supports each graph and is deterministic. cuDNN loads libcuda for
 *                              its support checks: without a driver, run it with the CUDA
 *                              toolkit's stub libcuda first on LD_LIBRARY_PATH (t_gpu does).
 *                              A graph cuDNN's engines do not recognise (one exp replaced by
 *                              tanh, tried by hand) gets no configuration, so this fails then.
 *                              Whether the kernels load and compute the right numbers still
 *                              needs the GPU (dev/test/gpu_check.sh).
 * The device descriptions are JSON for CUDNN_ATTR_DEVICEPROP_JSON_REPRESENTATION, whose layout
 * cuDNN does not document: the fields are the ones cuDNN 9.19 asks for (its error names each
 * missing one), the values the GPUs' data-sheet / cudaDeviceProp numbers. A cuDNN that refuses
 * them prints "skip" lines (nothing checked) instead of failing.
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

// cudaDeviceProp-style numbers of the two GPUs the trainer targets.
static const char *DEVICES[][2] = {
    {"sm90_H200",
     "{\"maxGridSize\":[2147483647,65535,65535],\"maxBlockSize\":[1024,1024,64],\"regsPerBlock\":65536,"
     "\"multiProcessorCount\":132,\"warpSize\":32,\"maxSharedMemoryPerBlock\":49152,"
     "\"maxSharedMemoryPerBlockOptin\":232448,\"reservedSharedMemoryPerBlock\":1024,\"maxRegistersPerSM\":65536,"
     "\"maxCtasPerSM\":32,\"maxThreadsPerBlock\":1024,\"maxThreadsPerSM\":2048,\"pciDeviceId\":0,\"isTccDriver\":0,"
     "\"supportCoopLaunch\":1,\"smClockRateKHz\":1980000,\"memClockRateKHz\":3201000,\"l2CacheSize\":52428800,"
     "\"deviceName\":\"NVIDIA H200\",\"deviceVer\":900,\"driverVer\":13000,\"cudaDeviceId\":0,"
     "\"totalGlobalMem\":150754820096}"},
    {"sm80_A100",
     "{\"maxGridSize\":[2147483647,65535,65535],\"maxBlockSize\":[1024,1024,64],\"regsPerBlock\":65536,"
     "\"multiProcessorCount\":108,\"warpSize\":32,\"maxSharedMemoryPerBlock\":49152,"
     "\"maxSharedMemoryPerBlockOptin\":166912,\"reservedSharedMemoryPerBlock\":1024,\"maxRegistersPerSM\":65536,"
     "\"maxCtasPerSM\":32,\"maxThreadsPerBlock\":1024,\"maxThreadsPerSM\":2048,\"pciDeviceId\":0,\"isTccDriver\":0,"
     "\"supportCoopLaunch\":1,\"smClockRateKHz\":1410000,\"memClockRateKHz\":1593000,\"l2CacheSize\":41943040,"
     "\"deviceName\":\"NVIDIA A100-SXM4-80GB\",\"deviceVer\":800,\"driverVer\":13000,\"cudaDeviceId\":0,"
     "\"totalGlobalMem\":85899345920}"},
};

// Engine configurations cuDNN's heuristics (mode A) offer for the graph on the described device
// and that pass its support checks; *deterministic counts those without the NONDETERMINISTIC note.
static int64_t supported_configs(cudnnBackendDescriptor_t graph, cudnnBackendDescriptor_t device, int *deterministic) {
    cudnnBackendDescriptor_t heur;
    cudnnCheck(cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur));
    cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
    cudnnCheck(cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph));
    cudnnCheck(cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode));
    cudnnCheck(cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_DEVICEPROP, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &device));
    cudnnCheck(cudnnBackendFinalize(heur));
    int64_t count = 0, got = 0;
    cudnnCheck(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, NULL));
    if (count > 16) count = 16;
    cudnnBackendDescriptor_t cfgs[16];
    for (int64_t i = 0; i < count; i++) cudnnCheck(cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfgs[i]));
    // the results come back filtered by the engines' support checks
    if (count > 0) {
        cudnnCheck(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &got, cfgs));
    }
    *deterministic = 0;
    for (int64_t i = 0; i < got; i++) *deterministic += !catt_nondeterministic(cfgs[i]);
    for (int64_t i = 0; i < count; i++) cudnnBackendDestroyDescriptor(cfgs[i]);
    cudnnBackendDestroyDescriptor(heur);
    return got;
}

// B, T, NH, HS: test_gpt2cu's d12 and odd shapes, d12 and d48 training, T = 1 (sampling),
// HS 128, a short odd T
static const int SHAPES[][4] = {{4, 64, 12, 64}, {3, 37, 3, 16},  {64, 1024, 12, 64}, {8, 1024, 25, 64},
                                {2, 1, 12, 64},  {1, 100, 2, 128}, {2, 5, 2, 64}};
#define NUM_SHAPES (sizeof(SHAPES) / sizeof(SHAPES[0]))

static int check_engines(void) {
    int fails = 0;
    for (size_t d = 0; d < sizeof(DEVICES) / sizeof(DEVICES[0]); d++) {
        cudnnBackendDescriptor_t device;
        cudnnCheck(cudnnBackendCreateDescriptor(CUDNN_BACKEND_DEVICEPROP_DESCRIPTOR, &device));
        const char *json = DEVICES[d][1];
        cudnnStatus_t st = cudnnBackendSetAttribute(device, CUDNN_ATTR_DEVICEPROP_JSON_REPRESENTATION, CUDNN_TYPE_CHAR,
                                                    (int64_t)strlen(json) + 1, json);
        if (st == CUDNN_STATUS_SUCCESS) st = cudnnBackendFinalize(device);
        if (st != CUDNN_STATUS_SUCCESS) {
            char detail[256];
            cudnnGetLastErrorString(detail, sizeof(detail));
            printf("skip cudnn_engines_%s: cuDNN %zu refused the device description (%s %s)\n", DEVICES[d][0],
                   cudnnGetVersion(), cudnnGetErrorString(st), detail);
            cudnnBackendDestroyDescriptor(device);
            continue;
        }
        for (size_t i = 0; i < NUM_SHAPES; i++) {
            for (int backward = 0; backward < 2; backward++) {
                const int *sh = SHAPES[i];
                CudnnAttGraph g;
                cudnnBackendDescriptor_t graph;
                cudnnCheck(cudnn_att_operation_graph(&g, backward, sh[0], sh[1], sh[2], sh[3], NULL, &graph));
                int det = 0;
                int64_t got = supported_configs(graph, device, &det);
                printf("%s cudnn_engines_%s_%s_B%d_T%d_NH%d_HS%d: %lld engine configurations, %d deterministic\n",
                       det > 0 ? "ok" : "not ok", DEVICES[d][0], backward ? "backward" : "forward", sh[0], sh[1], sh[2],
                       sh[3], (long long)got, det);
                fails += det == 0;
                cudnn_att_destroy(&g);
            }
        }
        cudnnBackendDestroyDescriptor(device);
    }
    return fails == 0 ? 0 : 1;
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
    if (argc > 1 && strcmp(argv[1], "engines") == 0) return check_engines();
    int fails = 0;
    for (size_t i = 0; i < NUM_SHAPES; i++) {
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
