// Rendering of user-overridable text templates (nginx server blocks, nginx.conf) with Mustache.
//
// Values are inserted verbatim (no HTML escaping: these are config files, not web pages). Callers must
// only pass validated values (see validate.h): the template engine does not make values safe.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "core/status.h"

namespace bim {

using TemplateVars = std::map<std::string, std::string>;
// Names that sections test: {{#tls}}...{{/tls}} renders when true, {{^tls}}...{{/tls}} when false.
using TemplateFlags = std::map<std::string, bool>;

// Renders `tmpl` with `vars` into `out`. A malformed template (unclosed section, bad tag) returns
// InvalidArgument with the engine's message prefixed by `name` (e.g. "templates/nginx/app.conf.mustache:
// Unclosed section \"x\" at 12"). A {{var}} that is not in `vars` is an error too, so a typo in a user's
// template is caught at render time instead of producing a config that routes nowhere.
Status RenderTemplate(std::string_view name, std::string_view tmpl, const TemplateVars& vars,
                      std::string* out);
// The same with `flags` for sections: {{#name}} renders when the flag is true (a section naming
// neither a flag nor a variable renders as false, as without flags).
Status RenderTemplate(std::string_view name, std::string_view tmpl, const TemplateVars& vars,
                      const TemplateFlags& flags, std::string* out);

}  // namespace bim
