// Routes that let a deploy send only what bimd lacks: the build-context manifest plan and the image
// layer plan, and the step that turns a deploy upload into the Deployer's source.
//
//   POST /v1/apps/{app}/contexts   text/plain manifest or delta (core/context_manifest.h); ?compose=1:
//        a Compose app's folder (no top-level Dockerfile needed)
//        -> {"manifest": id, "missing": [sha256...], "missing_bytes", "present_bytes", "files"}
//   POST /v1/apps/{app}/layers     {"image": "sha256:...", "layers": ["sha256:...", ...]}
//        -> {"image": bool, "layers": N}   (bimd runs that image for the app / holds the first N layers)
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <set>

#include "server/api_context.h"
#include "server/api_requests.h"
#include "server/context_store.h"
#include "server/image_archive.h"

namespace bim {

using nlohmann::json;

namespace {

constexpr size_t kMaxImageLayers = 1000;

bool IsImageId(const std::string& id) { return id.starts_with("sha256:") && IsSha256Hex(id.substr(7)); }

Status NoStore() { return Status::Internal("this bimd keeps no build contexts (no context store configured)"); }

// A "context" source: the planned manifest, with the contents the upload carried added to the store.
Status ResolveManifest(ContextStore* contexts, const std::string& app, const json& source, const DeployUpload& upload,
                       DeployRequest* request) {
  if (!contexts) return NoStore();
  if (!source.is_object() || !source.contains("manifest") || !source["manifest"].is_string() ||
      !IsSha256Hex(source["manifest"].get<std::string>()))
    return Status::InvalidArgument("deploy meta \"context\" must be {\"manifest\": \"<64 hex digits>\"}");
  if (upload.part == "image") return Status::InvalidArgument("a deploy of a build context cannot carry an \"image\" part");
  auto entries = std::make_shared<std::vector<ContextEntry>>();
  Status s = contexts->LoadManifest(app, source["manifest"].get<std::string>(), entries.get());
  if (!s.ok()) return s;
  if (upload.part == "contents") {
    std::set<std::string> wanted;
    for (const auto& e : *entries)
      if (e.type == ContextEntry::Type::kFile) wanted.insert(e.sha256);
    ContentsAdded added;
    if (!(s = contexts->AddContents(app, upload.path, wanted, &added)).ok()) return s;
  }
  // A plain app builds its folder's Dockerfile (a Compose app's services name their own).
  const bool plain = request->compose.text.empty();
  if (plain && std::none_of(entries->begin(), entries->end(), [](const ContextEntry& e) {
        return e.path == "Dockerfile" && e.type == ContextEntry::Type::kFile;
      }))
    return Status::InvalidArgument("the app folder has no Dockerfile (write one, or run `bim init` to generate it)");
  std::vector<std::string> missing = contexts->MissingContents(app, *entries);
  if (!missing.empty())
    return Status::FailedPrecondition("bimd lacks " + std::to_string(missing.size()) +
                                      " file content(s) of this build context (pruned since it was planned?); "
                                      "run bim deploy again");
  request->context_digest = ContextDigest(*entries, plain ? "Dockerfile" : "", request->config.build_args);
  request->write_context = [contexts, app, entries](const std::string& tar_path) {
    return contexts->WriteContextTar(app, *entries, tar_path);
  };
  return Status::OK();
}

// An "image" source: the image id, and the checked archive when the upload carried one.
Status ResolveImage(Store& store, const std::string& app, const json& source, DeployUpload* upload,
                    DeployRequest* request) {
  if (!source.is_object() || !source.contains("id") || !source["id"].is_string() ||
      !IsImageId(source["id"].get<std::string>()))
    return Status::InvalidArgument("deploy meta \"image\" must be {\"id\": \"sha256:<64 hex digits>\"}");
  if (upload->part == "contents")
    return Status::InvalidArgument("a deploy of an image cannot carry a \"contents\" part");
  request->image_id = source["id"].get<std::string>();
  if (upload->part != "image") return Status::OK();  // bimd said it has the image
  ImageArchiveRules rules;
  rules.image_id = request->image_id;
  rules.app = app;
  if (Status s = store.GetMeta("instance_id", &rules.instance_id); !s.ok()) return s;
  ImageArchiveFacts facts;
  if (Status s = CheckImageArchive(upload->path, rules, &facts); !s.ok()) return s;
  request->image_archive_path = upload->path;  // the Deployer loads and deletes it
  upload->path.clear();
  return Status::OK();
}

}  // namespace

Status ResolveDeploySource(ApiContext& ctx, const std::string& app, DeployUpload* upload, DeployRequest* request) {
  struct Cleanup {
    std::string& path;
    ~Cleanup() {
      if (!path.empty()) unlink(path.c_str());
    }
  } cleanup{upload->path};
  json meta = json::parse(upload->meta, nullptr, false);
  bool by_context = meta.is_object() && meta.contains("context");
  bool by_image = meta.is_object() && meta.contains("image");
  if (upload->part == "context") {
    if (by_context || by_image)
      return Status::InvalidArgument("a deploy with a whole \"context\" tar cannot also name a manifest or an image");
    return Status::OK();
  }
  if (by_context == by_image)
    return Status::InvalidArgument("deploy body has no \"context\" part, and its meta names neither a build context "
                                   "manifest (\"context\") nor an image (\"image\")");
  if (by_context) return ResolveManifest(ctx.deployer.context_store(), app, meta["context"], *upload, request);
  return ResolveImage(ctx.store, app, meta["image"], upload, request);
}

void RegisterUploadRoutes(ApiContext& ctx) {
  HttpServer& http = ctx.http;
  Deployer& deployer = ctx.deployer;
  const ServerOptions& options = ctx.options;

  // A build context's manifest may be larger than a JSON body (one line per file): its own limit.
  RouteOptions manifest_route;
  manifest_route.max_body_bytes = options.max_manifest_bytes;
  manifest_route.body_limit_message =
      "build context manifest is larger than " + std::to_string(options.max_manifest_bytes) + " bytes";
  http.Post(R"(/v1/apps/([^/]+)/contexts)", ctx.ForApp([&](const HttpRequest& req, HttpResponse& res,
                                                           const Principal&, const std::string& app) {
    ContextStore* contexts = deployer.context_store();
    if (!contexts) return SendError(res, NoStore());
    ContextPlan plan;
    std::string dockerfile = req.Param("compose") == "1" ? "" : "Dockerfile";
    if (Status s = contexts->PlanUpload(app, req.body, options.context_limits, &plan, dockerfile); !s.ok())
      return SendError(res, s);
    SendJson(res, json{{"manifest", plan.manifest_id},
                       {"missing", plan.missing},
                       {"missing_bytes", plan.missing_bytes},
                       {"present_bytes", plan.present_bytes},
                       {"files", plan.files}});
  }), manifest_route);

  http.Post(R"(/v1/apps/([^/]+)/layers)", ctx.ForApp([&](const HttpRequest& req, HttpResponse& res,
                                                         const Principal&, const std::string& app) {
    json body;
    if (Status s = ParseJsonBody(req, &body); !s.ok()) return SendError(res, s);
    std::vector<std::string> layers;
    std::string image = body.value("image", json()).is_string() ? body["image"].get<std::string>() : "";
    if (!IsImageId(image)) return SendError(res, Status::InvalidArgument("\"image\" must be \"sha256:<64 hex digits>\""));
    if (!body.contains("layers") || !body["layers"].is_array() || body["layers"].size() > kMaxImageLayers)
      return SendError(res, Status::InvalidArgument("\"layers\" must be a list of at most 1000 diff ids"));
    for (const json& l : body["layers"]) {
      if (!l.is_string() || !IsImageId(l.get<std::string>()))
        return SendError(res, Status::InvalidArgument("every layer must be \"sha256:<64 hex digits>\""));
      layers.push_back(l.get<std::string>());
    }
    bool has_image = false;
    int held = 0;
    if (Status s = deployer.HeldImageLayers(app, image, layers, &has_image, &held); !s.ok()) return SendError(res, s);
    SendJson(res, json{{"image", has_image}, {"layers", held}});
  }));
}

}  // namespace bim
