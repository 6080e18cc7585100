package io.ferry.spark.source;

import java.util.Arrays;
import java.util.Map;
import java.util.Set;
import org.apache.spark.sql.sources.And;
import org.apache.spark.sql.sources.EqualNullSafe;
import org.apache.spark.sql.sources.EqualTo;
import org.apache.spark.sql.sources.Filter;
import org.apache.spark.sql.sources.In;
import org.apache.spark.sql.sources.IsNotNull;
import org.apache.spark.sql.sources.Not;
import org.apache.spark.sql.sources.Or;
import org.apache.spark.sql.sources.StringContains;
import org.apache.spark.sql.sources.StringEndsWith;
import org.apache.spark.sql.sources.StringStartsWith;

/**
 * Evaluates pushed-down filters on the columns known when a read is planned (model, version, file, tensor, dtype), so
 * that chunks of tensors a query excludes are never planned, let alone read. Three-valued: a filter on a column it
 * does not know, or of a kind it does not handle, is "unknown" and keeps the row; Spark evaluates every filter again
 * on the rows read, so this only ever removes rows the query would have dropped.
 */
final class PlanFilter {
  private PlanFilter() {}

  /** Whether {@code f} only uses forms and columns (of {@code columns}) that planning can evaluate. */
  static boolean supported(Filter f, Set<String> columns) {
    if (f instanceof And a) {
      return supported(a.left(), columns) && supported(a.right(), columns);
    }
    if (f instanceof Or o) {
      return supported(o.left(), columns) && supported(o.right(), columns);
    }
    if (f instanceof Not n) {
      return supported(n.child(), columns);
    }
    String attr = attribute(f);
    return attr != null && columns.contains(attr);
  }

  /** Whether a row with these column values may pass all {@code filters} (false only if one surely rejects it). */
  static boolean mayPass(Filter[] filters, Map<String, String> row) {
    for (Filter f : filters) {
      if (eval(f, row) == Boolean.FALSE) {
        return false;
      }
    }
    return true;
  }

  /** TRUE, FALSE, or null for unknown. */
  private static Boolean eval(Filter f, Map<String, String> row) {
    if (f instanceof And a) {
      Boolean l = eval(a.left(), row);
      Boolean r = eval(a.right(), row);
      if (l == Boolean.FALSE || r == Boolean.FALSE) {
        return false;
      }
      return l == null || r == null ? null : true;
    }
    if (f instanceof Or o) {
      Boolean l = eval(o.left(), row);
      Boolean r = eval(o.right(), row);
      if (l == Boolean.TRUE || r == Boolean.TRUE) {
        return true;
      }
      return l == null || r == null ? null : false;
    }
    if (f instanceof Not n) {
      Boolean c = eval(n.child(), row);
      return c == null ? null : !c;
    }
    String attr = attribute(f);
    if (attr == null || !row.containsKey(attr)) {
      return null;
    }
    String v = row.get(attr);
    if (f instanceof EqualTo e) {
      return v.equals(String.valueOf(e.value()));
    }
    if (f instanceof EqualNullSafe e) {
      return v.equals(String.valueOf(e.value()));
    }
    if (f instanceof In in) {
      return Arrays.stream(in.values()).anyMatch(x -> v.equals(String.valueOf(x)));
    }
    if (f instanceof StringStartsWith s) {
      return v.startsWith(s.value());
    }
    if (f instanceof StringEndsWith s) {
      return v.endsWith(s.value());
    }
    if (f instanceof StringContains s) {
      return v.contains(s.value());
    }
    if (f instanceof IsNotNull) {
      return true;
    }
    return null;
  }

  private static String attribute(Filter f) {
    if (f instanceof EqualTo e && e.value() instanceof String) {
      return e.attribute();
    }
    if (f instanceof EqualNullSafe e && e.value() instanceof String) {
      return e.attribute();
    }
    if (f instanceof In in && Arrays.stream(in.values()).allMatch(x -> x instanceof String)) {
      return in.attribute();
    }
    if (f instanceof StringStartsWith s) {
      return s.attribute();
    }
    if (f instanceof StringEndsWith s) {
      return s.attribute();
    }
    if (f instanceof StringContains s) {
      return s.attribute();
    }
    if (f instanceof IsNotNull n) {
      return n.attribute();
    }
    return null;
  }
}
