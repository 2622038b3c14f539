// Routes for an app's named volumes: list, backup (a tar stream out), restore (a tar stream in).
#include <fcntl.h>
#include <unistd.h>

#include <memory>

#include "base/file_util.h"
#include "base/random.h"
#include "core/validate.h"
#include "server/api_context.h"
#include "server/auth.h"

namespace bim {

using nlohmann::json;

namespace {

std::string ArchiveTooLarge(const ServerOptions& options) {
  return "the archive is larger than " + std::to_string(options.max_upload_bytes) + " bytes (bimd's --max-upload-bytes)";
}

// Reads a restore body (a tar, at most options.max_upload_bytes: the HTTP layer refused a larger
// Content-Length before reading and cuts a chunked body at the limit) into a new file under uploads/.
Status ReceiveArchive(const ServerOptions& options, const std::string& app, const HttpRequest& req, std::string* path) {
  std::string dir = options.data_dir + "/uploads";
  if (Status s = MakeDirs(dir, 0700); !s.ok()) return s;
  *path = dir + "/" + app + "-restore-" + RandomHex(8) + ".tar";
  int fd = open(path->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Internal("cannot create " + *path);
  int64_t received = 0;
  Status failure;
  Status read = req.ReadBody([&](std::string_view piece) {
    received += static_cast<int64_t>(piece.size());
    if (received > options.max_upload_bytes) {
      failure = Status::TooLarge(ArchiveTooLarge(options));
      return false;
    }
    for (size_t off = 0; off < piece.size();) {
      ssize_t n = write(fd, piece.data() + off, piece.size() - off);
      if (n <= 0) {
        failure = Status::Internal("cannot write " + *path);
        return false;
      }
      off += static_cast<size_t>(n);
    }
    return true;
  });
  close(fd);
  if (failure.ok() && !read.ok())
    failure = read.code() == Code::kTooLarge ? Status::TooLarge(ArchiveTooLarge(options))
                                             : Status::InvalidArgument("the archive upload was cut off; try again (" +
                                                                       read.message() + ")");
  if (failure.ok() && received == 0) failure = Status::InvalidArgument("no archive was sent (pipe a tar into `bim restore`)");
  if (!failure.ok()) unlink(path->c_str());
  return failure;
}

}  // namespace

void RegisterVolumeRoutes(ApiContext& ctx) {
  HttpServer& http = ctx.http;
  Deployer& deployer = ctx.deployer;
  const ServerOptions& options = ctx.options;

  http.Get(R"(/v1/apps/([^/]+)/volumes)", ctx.ForApp([&](const HttpRequest&, HttpResponse& res,
                                                         const Principal&, const std::string& app) {
    json out;
    Status s = deployer.ListVolumes(app, &out);
    if (!s.ok()) return SendError(res, s);
    SendJson(res, out);
  }));

  // The archive streams out on the backup's own thread (a stream route), never a worker's.
  http.Get(R"(/v1/apps/([^/]+)/volumes/([^/]+)/backup)", ctx.ForApp([&](const HttpRequest& req, HttpResponse& res,
                                                                       const Principal& who, const std::string& app) {
    std::string volume = req.matches.at(2);
    if (Status s = ValidateVolumeName(volume); !s.ok()) return SendError(res, s);
    // An engine that cannot copy volumes, unknown apps and volumes: refused before the archive's
    // headers go out.
    if (Status s = deployer.CanCopyVolumes(); !s.ok()) return SendError(res, s);
    json listed;
    if (Status s = deployer.ListVolumes(app, &listed); !s.ok()) return SendError(res, s);
    bool found = false;
    for (const auto& v : listed["volumes"]) found = found || v["name"] == volume;
    if (!found)
      return SendError(res, Status::NotFound("app \"" + app + "\" has no volume \"" + volume + "\" (see `bim volumes " + app + "`)"));
    if (!res.BeginStream("application/x-tar")) return;
    Status s = deployer.BackupVolume(app, volume, who.name, [&](std::string_view chunk) { return res.Write(chunk); });
    // A failure after the headers can only be told by ending the stream without its last chunk.
    if (!s.ok()) {
      std::fprintf(stderr, "bimd: backup of %s volume %s failed: %s\n", app.c_str(), volume.c_str(), s.message().c_str());
      res.Abort();
    }
  }), RouteOptions::Stream(kVolumeStreams));

  // A restore is a streaming upload like a deploy: the only PUT route that takes a large (or chunked)
  // body, bounded by max_upload_bytes, read by its handler on the restore's own stream thread. Auth,
  // scope and the Content-Length are checked before a byte of it is read.
  RouteOptions restore_route;
  restore_route.max_body_bytes = options.max_upload_bytes;
  restore_route.body_limit_message = ArchiveTooLarge(options);
  restore_route.chunked_body = true;
  restore_route.streamed_body = true;
  restore_route.stream = kReleaseStreams;
  http.Put(R"(/v1/apps/([^/]+)/volumes/([^/]+)/restore)",
           ctx.ForApp([&](const HttpRequest& req, HttpResponse& res, const Principal& who, const std::string& app) {
             std::string volume = req.matches.at(2);
             if (Status s = ValidateVolumeName(volume); !s.ok()) return SendError(res, s);
             if (Status s = deployer.CanCopyVolumes(); !s.ok()) return SendError(res, s);  // before the upload
             auto path = std::make_shared<std::string>();
             if (Status s = ReceiveArchive(options, app, req, path.get()); !s.ok()) return SendError(res, s);
             std::string actor = who.name;
             ctx.StreamRelease(res, [&deployer, app, volume, actor, path](const EventSink& events, const CancelCheck&,
                                                                      DeployOutcome*) {
               Status s = deployer.RestoreVolume(app, volume, actor, *path, events);
               unlink(path->c_str());
               return s;
             });
           }),
           restore_route);
}

}  // namespace bim
