//! Matrices in slices, and the one matrix product every host path uses.
//!
//! The product is `matrixmultiply`'s SGEMM (packing, cache blocking and AVX2/FMA kernels chosen
//! at run time); it takes raw pointers and strides, so this file is the one place that checks
//! them against the slices and calls it.

/// A matrix read from a slice: `rows × columns` values at `values[r · row_stride + c ·
/// column_stride]`. A row-major matrix and its transpose are two views of the same slice.
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a> {
    values: &'a [f32],
    rows: usize,
    columns: usize,
    row_stride: usize,
    column_stride: usize,
}

impl<'a> Matrix<'a> {
    /// `values` read as a row-major `rows × columns` matrix.
    ///
    /// # Panics
    /// If `values` is shorter than `rows · columns`.
    pub fn rows(values: &'a [f32], rows: usize, columns: usize) -> Self {
        Matrix::checked(values, rows, columns, columns, 1)
    }

    /// The transpose of a row-major `columns × rows` matrix stored in `values`, viewed as
    /// `rows × columns`.
    ///
    /// # Panics
    /// If `values` is shorter than `rows · columns`.
    pub fn transposed(values: &'a [f32], rows: usize, columns: usize) -> Self {
        Matrix::checked(values, rows, columns, 1, rows)
    }

    fn checked(
        values: &'a [f32],
        rows: usize,
        columns: usize,
        row_stride: usize,
        column_stride: usize,
    ) -> Self {
        if rows > 0 && columns > 0 {
            let last = (rows - 1) * row_stride + (columns - 1) * column_stride;
            assert!(
                last < values.len(),
                "matrix bounds: {rows}×{columns} in {}",
                values.len()
            );
        }
        Matrix {
            values,
            rows,
            columns,
            row_stride,
            column_stride,
        }
    }
}

/// `out += a · b`, `out` row-major `a.rows × b.columns`.
///
/// # Panics
/// If the inner dimensions differ or `out` is too short.
pub fn add_product(a: Matrix<'_>, b: Matrix<'_>, out: &mut [f32]) {
    assert_eq!(a.columns, b.rows, "inner dimensions");
    let (m, k, n) = (a.rows, a.columns, b.columns);
    assert!(
        out.len() >= m * n,
        "product bounds: {m}×{n} in {}",
        out.len()
    );
    if m == 0 || k == 0 || n == 0 {
        return;
    }
    // SAFETY: `Matrix` checked that every index of `a` and `b` lies in its slice, and `out`
    // holds the m×n row-major result.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.values.as_ptr(),
            a.row_stride as isize,
            a.column_stride as isize,
            b.values.as_ptr(),
            b.row_stride as isize,
            b.column_stride as isize,
            1.0,
            out.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// A dense layer on `rows` rows: `out = x · w + b`, `x` row-major `rows × inputs`, `w`
/// row-major `inputs × outputs` (`outputs = b.len()`).
pub fn dense(x: &[f32], rows: usize, w: &[f32], b: &[f32], out: &mut [f32]) {
    let outputs = b.len();
    let inputs = w.len() / outputs.max(1);
    let out = &mut out[..rows * outputs];
    fill_rows(out, b);
    add_product(
        Matrix::rows(x, rows, inputs),
        Matrix::rows(w, inputs, outputs),
        out,
    );
}

/// Every row of `matrix` set to `row`.
#[inline(always)]
pub fn fill_rows(matrix: &mut [f32], row: &[f32]) {
    for chunk in matrix.chunks_exact_mut(row.len()) {
        chunk.copy_from_slice(row);
    }
}

/// `sums[j] = Σ_r matrix[r][j]`, `matrix` row-major with `sums.len()` columns.
#[inline(always)]
pub fn column_sums(matrix: &[f32], sums: &mut [f32]) {
    sums.fill(0.0);
    for row in matrix.chunks_exact(sums.len()) {
        for (s, v) in sums.iter_mut().zip(row) {
            *s += v;
        }
    }
}

/// `out += scale · values`.
#[inline(always)]
pub fn add_scaled(out: &mut [f32], scale: f32, values: &[f32]) {
    for (o, &v) in out.iter_mut().zip(values) {
        *o += scale * v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2×3 matrix, its transpose, and products checked by hand.
    #[test]
    fn products_of_views_match_hand_computed_values() {
        // a = [[1, 2, 3], [4, 5, 6]]
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        // a · aᵀ = [[14, 32], [32, 77]]
        let mut out = [0.0; 4];
        add_product(
            Matrix::rows(&a, 2, 3),
            Matrix::transposed(&a, 3, 2),
            &mut out,
        );
        assert_eq!(out, [14.0, 32.0, 32.0, 77.0]);
        // aᵀ · a = [[17, 22, 27], [22, 29, 36], [27, 36, 45]], added to what is there.
        let mut out = [1.0; 9];
        add_product(
            Matrix::transposed(&a, 3, 2),
            Matrix::rows(&a, 2, 3),
            &mut out,
        );
        assert_eq!(out, [18.0, 23.0, 28.0, 23.0, 30.0, 37.0, 28.0, 37.0, 46.0]);
        // A layer: [1, 2, 3] · a-as-3×2 + [0.5, -1] = [22 + 0.5, 28 - 1].
        let mut y = [0.0; 2];
        dense(&[1.0, 2.0, 3.0], 1, &a, &[0.5, -1.0], &mut y);
        assert_eq!(y, [22.5, 27.0]);
    }

    #[test]
    #[should_panic(expected = "matrix bounds")]
    fn a_view_larger_than_its_slice_is_refused() {
        let _ = Matrix::rows(&[0.0; 5], 2, 3);
    }
}
