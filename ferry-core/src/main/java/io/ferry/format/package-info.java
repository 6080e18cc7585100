/**
 * Model file formats as Ferry sees them: element types ({@link io.ferry.format.DType}) and tensor tables
 * ({@link io.ferry.format.TensorInfo}). Readers for each format live in sub-packages and validate their input
 * completely before anything else looks at it; every defect is reported as an
 * {@link io.ferry.error.InvalidInputException} naming the file, the tensor or offset, and the rule broken.
 */
package io.ferry.format;
