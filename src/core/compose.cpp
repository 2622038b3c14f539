// Compose file parsing: a walk over yaml-cpp's node tree that accepts the keys bim deploys, one
// function per key, and refuses everything else by name.
#include "core/compose.h"

#include <algorithm>
#include <set>

#include "core/compose_walker.h"
#include "core/validate.h"

namespace bim {

using compose_internal::Entries;
using compose_internal::InsidePath;
using compose_internal::Walker;

namespace {

// Orders services so that each comes after what it depends on, keeping file order otherwise.
Status StartOrder(const std::string& file, std::vector<ComposeService>* services) {
  std::vector<ComposeService> ordered;
  std::set<std::string> placed;
  std::vector<bool> done(services->size(), false);
  while (ordered.size() < services->size()) {
    bool progress = false;
    for (size_t i = 0; i < services->size(); ++i) {
      if (done[i]) continue;
      bool ready = true;
      for (const auto& d : (*services)[i].depends_on) ready = ready && placed.count(d.service);
      if (!ready) continue;
      done[i] = true;
      placed.insert((*services)[i].name);
      ordered.push_back((*services)[i]);
      progress = true;
      break;  // restart from the top: the earliest ready service goes next
    }
    if (!progress) {
      std::string cycle;
      for (size_t i = 0; i < services->size(); ++i)
        if (!done[i]) cycle += (cycle.empty() ? "" : ", ") + (*services)[i].name;
      return Status::InvalidArgument(file + ": services " + cycle +
                                     " depend on each other in a cycle (remove one depends_on)");
    }
  }
  *services = std::move(ordered);
  return Status::OK();
}

Status Load(const ComposeSource& in, YAML::Node* root) {
  try {
    *root = YAML::Load(in.text);
  } catch (const YAML::Exception& e) {
    std::string why = e.msg;
    for (char& c : why)
      if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    return Status::InvalidArgument(in.file_name + " line " + std::to_string(e.mark.line + 1) + ": " + why +
                                   " (fix the YAML syntax)");
  }
  if (!root->IsMap()) return Status::InvalidArgument(in.file_name + " must be a mapping with a services: section");
  return Status::OK();
}

}  // namespace

Status ComposeEnvFiles(std::string_view file_name, std::string_view yaml, std::vector<std::string>* paths) {
  ComposeSource in;
  in.file_name = std::string(file_name);
  in.text = std::string(yaml);
  YAML::Node root;
  if (Status s = Load(in, &root); !s.ok()) return s;
  paths->clear();
  const YAML::Node services = root["services"];
  if (!services.IsMap()) return Status::OK();  // ParseCompose says what is wrong
  for (auto it = services.begin(); it != services.end(); ++it) {
    if (!it->second.IsMap()) continue;
    // A const node's missing key is a zombie that throws on any question but IsDefined().
    YAML::Node files = it->second["env_file"];
    if (!files.IsDefined()) continue;
    std::vector<YAML::Node> items;
    if (files.IsScalar()) items.push_back(files);
    if (files.IsSequence())
      for (const auto& f : files) items.push_back(f.IsMap() ? f["path"] : f);
    for (const auto& f : items) {
      if (!f.IsDefined() || !f.IsScalar()) continue;
      if (InsidePath(f.Scalar()).empty())
        return Status::InvalidArgument(in.file_name + " line " + std::to_string(f.Mark().line + 1) + ": services." +
                                       it->first.Scalar() + ".env_file \"" + f.Scalar().substr(0, 80) +
                                       "\" must be a path inside the app folder");
      if (std::find(paths->begin(), paths->end(), f.Scalar()) == paths->end()) paths->push_back(f.Scalar());
    }
  }
  return Status::OK();
}

Status ParseCompose(const ComposeSource& in, ComposeProject* out) {
  YAML::Node root;
  if (Status s = Load(in, &root); !s.ok()) return s;
  Walker walk(in);
  Entries top;
  if (Status s = walk.Map(root, "the file", &top); !s.ok()) return s;
  ComposeProject project;
  YAML::Node services_node;
  for (const auto& [key, value] : top) {
    if (key == "services") {
      services_node = value;
    } else if (key == "volumes") {
      Entries volumes;
      if (value.IsNull()) continue;
      if (Status s = walk.Map(value, "volumes", &volumes); !s.ok()) return s;
      for (const auto& [name, options] : volumes) {
        if (Status s = ValidateVolumeName(name); !s.ok()) return walk.Error(options, "volumes." + name, s.message());
        Entries opts;
        if (!options.IsNull())
          if (Status s = walk.Map(options, "volumes." + name, &opts); !s.ok()) return s;
        if (!opts.empty()) return walk.Unsupported(opts[0].second, "volumes." + name + "." + opts[0].first);
        project.volumes.push_back(name);
      }
    } else if (key == "version" || key.starts_with("x-")) {
      continue;  // `version` is obsolete (Compose ignores it too); x-* hold anchors
    } else {
      return walk.Unsupported(value, key);
    }
  }
  std::sort(project.volumes.begin(), project.volumes.end());
  if (!services_node.IsDefined() || services_node.IsNull())
    return Status::InvalidArgument(in.file_name + " has no services (add a services: section)");
  Entries services;
  if (Status s = walk.Map(services_node, "services", &services); !s.ok()) return s;
  std::set<std::string> inactive;
  for (const auto& [name, node] : services) {
    ComposeService svc;
    if (Status s = walk.Service(name, node, &svc); !s.ok()) return s;
    bool active = svc.profiles.empty();
    for (const auto& p : svc.profiles)
      active = active || std::find(in.profiles.begin(), in.profiles.end(), p) != in.profiles.end();
    if (!active) {
      inactive.insert(name);
      continue;
    }
    for (const auto& v : svc.volumes)
      if (!std::binary_search(project.volumes.begin(), project.volumes.end(), v.source))
        return walk.Error(node, "services." + name + ".volumes",
                          "uses volume " + v.source + ", which the top-level volumes does not declare (add it there)");
    project.services.push_back(std::move(svc));
  }
  if (project.services.empty())
    return Status::InvalidArgument(in.file_name + " has no service to deploy (every service is in an inactive profile; "
                                                  "list profiles = [...] in bim.toml)");
  for (const auto& svc : project.services) {
    for (const auto& d : svc.depends_on) {
      bool known = std::any_of(project.services.begin(), project.services.end(),
                               [&](const ComposeService& o) { return o.name == d.service; });
      if (d.service == svc.name)
        return Status::InvalidArgument(in.file_name + ": service " + svc.name + " depends on itself");
      if (!known)
        return Status::InvalidArgument(in.file_name + ": service " + svc.name + " depends on " + d.service +
                                       (inactive.count(d.service) ? ", whose profile is not active (list it in bim.toml's profiles)"
                                                                  : ", which is not defined"));
    }
  }
  if (Status s = StartOrder(in.file_name, &project.services); !s.ok()) return s;
  *out = std::move(project);
  return Status::OK();
}

bool WrittenByBimInit(std::string_view text) { return text.starts_with("# Written by `bim "); }

}  // namespace bim
