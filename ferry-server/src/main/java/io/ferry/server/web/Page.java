package io.ferry.server.web;

import io.ferry.error.InvalidInputException;
import io.ferry.server.auth.Access;
import io.ferry.server.http.Exchange;
import io.ferry.server.http.HttpError;
import io.ferry.store.RefNames;
import java.io.IOException;
import org.eclipse.jetty.http.HttpHeader;

/** The frame every page shares: headers, head, navigation; and the login and error pages. */
final class Page {
  /** Scripts and styles only from this server; no inline script; no framing. */
  static final String CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
      + " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

  private Page() {}

  /** Starts an HTML page: status, headers, head, header bar; the caller writes the main content then {@link #end}. */
  static Html begin(Exchange ex, int status, String title, String extraHead) throws IOException {
    ex.response().setStatus(status);
    ex.set(HttpHeader.CONTENT_TYPE, "text/html; charset=utf-8");
    ex.set(HttpHeader.CACHE_CONTROL, "no-store");
    ex.set("Content-Security-Policy", CSP);
    ex.set("X-Content-Type-Options", "nosniff");
    ex.set("Referrer-Policy", "same-origin");
    Html h = new Html(WebUi.writer(ex));
    h.raw("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        + "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>").text(title)
        .raw(" · Ferry</title><link rel=\"stylesheet\" href=\"/ui/static/ferry.css\">"
            + "<script src=\"/ui/static/ferry.js\" defer></script>");
    if (extraHead != null) {
      h.raw(extraHead);
    }
    h.raw("</head><body><header><a class=\"brand\" href=\"/\">Ferry</a><nav><a href=\"/\">Models</a>"
        + "<a href=\"/ui/diff\">Diff</a><a href=\"/ui/health\">Store health</a>");
    Access a = ex.access();
    if (a != null && !a.unlimited()) {
      h.raw("<span class=\"who\">").text(a.who()).raw("</span><form method=\"post\" action=\"/ui/logout\""
          + " class=\"inline\"><button type=\"submit\" id=\"logout\">Sign out</button></form>");
    }
    h.raw("</nav></header><main>\n");
    return h;
  }

  static void end(Html h) throws IOException {
    h.raw("\n</main><footer>Ferry store browser</footer></body></html>\n");
    h.flush();
    h.close();
  }

  static void login(Exchange ex, int status, String next, String problem) throws IOException {
    if (status == 401) {
      ex.set(HttpHeader.WWW_AUTHENTICATE, "Bearer realm=\"ferry\"");
    }
    Html h = begin(ex, status, "Sign in", null);
    h.raw("<h1>Sign in</h1><p>This store needs a token (<code>ferry token create</code>). It is kept in an HttpOnly"
        + " cookie of this site; API clients send it as <code>Authorization: Bearer</code>.</p>");
    if (problem != null) {
      h.raw("<p class=\"problem\" id=\"login-problem\">").text(problem).raw("</p>");
    }
    h.raw("<form method=\"post\" action=\"/ui/login\" id=\"login\"><input type=\"hidden\" name=\"next\" value=\"")
        .text(WebUi.safeNext(next)).raw("\"><label>Token <input type=\"password\" name=\"token\" id=\"token\""
            + " autocomplete=\"current-password\" required></label> <button type=\"submit\">Sign in</button></form>");
    end(h);
  }

  static void error(Exchange ex, HttpError e) throws IOException {
    Html h = begin(ex, e.status(), "Error " + e.status(), null);
    h.raw("<h1>").text(e.status() + " " + e.code()).raw("</h1><p class=\"problem\">").text(e.getMessage())
        .raw("</p><p><a href=\"/\">Back to the models</a></p>");
    end(h);
  }

  /** Checks a model name from the path: 400 if it is not one. */
  static String model(String name) throws HttpError {
    try {
      return RefNames.checkModel(name);
    } catch (InvalidInputException e) {
      throw new HttpError(400, "bad-model", e.getMessage());
    }
  }

  /** The path of a model's page. */
  static String modelPath(String model) {
    return "/ui/models/" + Html.model(model);
  }

  /** The path of a sub-page of a model: {@code /ui/models/{model}/-/{kind}/{rev}}. */
  static String sub(String model, String kind, String rev) {
    return modelPath(model) + "/-/" + kind + "/" + Html.seg(rev);
  }
}
