package io.ferry.server.web;

import io.ferry.format.DType;
import io.ferry.repo.Results.Change;
import java.util.List;
import java.util.Objects;

/**
 * How one tensor differs between two versions: its change (null when unchanged), types and shapes on both sides, and
 * for a tensor whose values changed under the same dtype and shape the magnitude of the change, measured on the
 * server. Immutable.
 *
 * @param name the tensor's name as stored (attacker-controlled: escape before showing it)
 * @param change what changed, or null if the tensor is the same in both versions
 * @param dtypeA dtype in A, or null if A lacks it
 * @param shapeA shape in A, or null if A lacks it
 * @param dtypeB dtype in B, or null if B lacks it
 * @param shapeB shape in B, or null if B lacks it
 * @param relFrobenius ‖B−A‖/‖A‖: 0 for an unchanged tensor, NaN where it is not defined (added, removed, reshaped,
 *     dtype changed, a type that is not numeric, or ‖A‖ = 0 with B non-zero)
 * @param cosine A·B/(‖A‖‖B‖): 1 for an unchanged tensor, NaN where not defined
 * @param elements elements compared (0 when nothing was measured)
 */
public record TensorDelta(String name, Change change, DType dtypeA, List<Long> shapeA, DType dtypeB,
    List<Long> shapeB, double relFrobenius, double cosine, long elements) {
  public TensorDelta {
    Objects.requireNonNull(name, "name");
    shapeA = shapeA == null ? null : List.copyOf(shapeA);
    shapeB = shapeB == null ? null : List.copyOf(shapeB);
    if (elements < 0) {
      throw new IllegalArgumentException("tensor '" + name + "': elements must be >= 0, got " + elements);
    }
  }

  /** Whether the tensor differs between the versions. */
  public boolean changed() {
    return change != null;
  }

  /** The layer the tensor belongs to: the first number between dots in its name ({@code layers.12.mlp}), or -1. */
  public int layer() {
    return layerOf(name);
  }

  static int layerOf(String name) {
    int n = name.length();
    for (int i = 0; i < n; i++) {
      if (name.charAt(i) == '.' && i + 1 < n && Character.isDigit(name.charAt(i + 1))) {
        int j = i + 1;
        while (j < n && j - i <= 6 && Character.isDigit(name.charAt(j))) {
          j++;
        }
        if ((j == n || name.charAt(j) == '.') && j - i <= 6) {
          return Integer.parseInt(name.substring(i + 1, j));
        }
      }
    }
    return -1;
  }
}
