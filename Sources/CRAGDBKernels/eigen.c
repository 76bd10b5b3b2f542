// Principal axes for the PCA code kind (docs/dense.md, "PCA codes"): the covariance of a
// sample and the eigen-decomposition of that symmetric matrix by cyclic Jacobi rotations.
// Both run once per index build on at most a few thousand vectors; they are in C because the
// same loops in Swift pay a bounds check per element of an O(n³) algorithm.
#include "ragdb_kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ragdb_covariance(const float *x, size_t count, size_t n, double *mean, double *out) {
    memset(mean, 0, n * sizeof(double));
    memset(out, 0, n * n * sizeof(double));
    if (count == 0) return;
    for (size_t p = 0; p < count; p++)
        for (size_t j = 0; j < n; j++) mean[j] += x[p * n + j];
    for (size_t j = 0; j < n; j++) mean[j] /= (double)count;
    double *row = malloc(n * sizeof(double));
    if (!row) return;
    // Rank-one updates of the upper triangle; the inner loop is contiguous in both operands.
    for (size_t p = 0; p < count; p++) {
        for (size_t j = 0; j < n; j++) row[j] = x[p * n + j] - mean[j];
        for (size_t i = 0; i < n; i++) {
            const double a = row[i];
            double *o = out + i * n;
            for (size_t j = i; j < n; j++) o[j] += a * row[j];
        }
    }
    free(row);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i; j < n; j++) {
            out[i * n + j] /= (double)count;
            out[j * n + i] = out[i * n + j];
        }
}

int ragdb_symmetric_eigen(double *a, size_t n, double *values, double *vectors) {
    // Cyclic Jacobi (Golub & Van Loan, 8.5): each rotation zeroes one off-diagonal pair;
    // sweeps repeat until the off-diagonal mass is negligible against the diagonal. `vectors`
    // accumulates the rotations row-wise: row k is the eigenvector of values[k].
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) vectors[i * n + j] = i == j ? 1.0 : 0.0;
    int sweeps = 0;
    for (; sweeps < 60; sweeps++) {
        double off = 0, diag = 0;
        for (size_t i = 0; i < n; i++) {
            diag += a[i * n + i] * a[i * n + i];
            for (size_t j = i + 1; j < n; j++) off += a[i * n + j] * a[i * n + j];
        }
        if (off <= 1e-22 * diag || off == 0) break;
        for (size_t p = 0; p + 1 < n; p++) {
            for (size_t q = p + 1; q < n; q++) {
                const double apq = a[p * n + q];
                if (fabs(apq) <= 1e-300) continue;
                const double app = a[p * n + p], aqq = a[q * n + q];
                // Skip pairs already below rounding of both diagonal entries.
                if (fabs(apq) < 1e-18 * (fabs(app) + fabs(aqq))) { a[p * n + q] = a[q * n + p] = 0; continue; }
                const double theta = (aqq - app) / (2 * apq);
                const double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
                const double c = 1 / sqrt(t * t + 1), s = t * c;
                // A ← Jᵀ A J on rows and columns p and q.
                for (size_t k = 0; k < n; k++) {
                    const double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                double *rp = a + p * n, *rq = a + q * n;
                for (size_t k = 0; k < n; k++) {
                    const double apk = rp[k], aqk = rq[k];
                    rp[k] = c * apk - s * aqk;
                    rq[k] = s * apk + c * aqk;
                }
                a[p * n + q] = a[q * n + p] = 0;
                double *vp = vectors + p * n, *vq = vectors + q * n;
                for (size_t k = 0; k < n; k++) {
                    const double x = vp[k], y = vq[k];
                    vp[k] = c * x - s * y;
                    vq[k] = s * x + c * y;
                }
            }
        }
    }
    for (size_t i = 0; i < n; i++) values[i] = a[i * n + i];
    return sweeps;
}
