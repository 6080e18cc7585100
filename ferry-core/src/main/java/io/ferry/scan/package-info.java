/**
 * Finding and validating the files of a model before a push writes anything: {@link io.ferry.scan.ModelFiles} walks a
 * file or a directory, checks each path ({@link io.ferry.version.SafePaths}), has the formats of a
 * {@link io.ferry.format.registry.FormatRegistry} read each file into a layout, and runs the directory formats over
 * the whole. {@link io.ferry.scan.LocalTrees} removes local trees Ferry made itself.
 */
package io.ferry.scan;
