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

// Reads a restore body (a tar, at most options.max_upload_bytes) into a new file under uploads/.
Status ReceiveArchive(const ServerOptions& options, const std::string& app, const httplib::Request& req,
                      const httplib::ContentReader& reader, std::string* path) {
  if (req.get_header_value<uint64_t>("Content-Length") > static_cast<uint64_t>(options.max_upload_bytes))
    return Status::TooLarge("the archive is larger than " + std::to_string(options.max_upload_bytes) +
                            " bytes (bimd's --max-upload-bytes)");
  std::string dir = options.data_dir + "/uploads";
  if (Status s = MakeDirs(dir, 0700); !s.ok()) return s;
  *path = dir + "/" + app + "-restore-" + RandomHex(8) + ".tar";
  int fd = open(path->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Internal("cannot create " + *path);
  int64_t received = 0;
  Status failure;
  bool ok = reader([&](const char* data, size_t len) {
    received += static_cast<int64_t>(len);
    if (received > options.max_upload_bytes) {
      failure = Status::TooLarge("the archive is larger than " + std::to_string(options.max_upload_bytes) + " bytes");
      return false;
    }
    for (size_t off = 0; off < len;) {
      ssize_t n = write(fd, data + off, len - off);
      if (n <= 0) {
        failure = Status::Internal("cannot write " + *path);
        return false;
      }
      off += static_cast<size_t>(n);
    }
    return true;
  });
  close(fd);
  if (failure.ok() && !ok) failure = Status::InvalidArgument("the archive upload was cut off; try again");
  if (failure.ok() && received == 0) failure = Status::InvalidArgument("no archive was sent (pipe a tar into `bim restore`)");
  if (!failure.ok()) unlink(path->c_str());
  return failure;
}

}  // namespace

void RegisterVolumeRoutes(ApiContext& ctx) {
  httplib::Server& http = ctx.http;
  Deployer& deployer = ctx.deployer;
  const ServerOptions& options = ctx.options;

  http.Get(R"(/v1/apps/([^/]+)/volumes)", ctx.ForApp([&](const httplib::Request&, httplib::Response& res,
                                                         const Principal&, const std::string& app) {
    json out;
    Status s = deployer.ListVolumes(app, &out);
    if (!s.ok()) return SendError(res, s);
    SendJson(res, out);
  }));

  http.Get(R"(/v1/apps/([^/]+)/volumes/([^/]+)/backup)", ctx.ForApp([&](const httplib::Request& req, httplib::Response& res,
                                                                       const Principal& who, const std::string& app) {
    std::string volume = req.matches[2];
    if (Status s = ValidateVolumeName(volume); !s.ok()) return SendError(res, s);
    // Unknown apps and volumes get a 404 before the archive's headers go out.
    json listed;
    if (Status s = deployer.ListVolumes(app, &listed); !s.ok()) return SendError(res, s);
    bool found = false;
    for (const auto& v : listed["volumes"]) found = found || v["name"] == volume;
    if (!found)
      return SendError(res, Status::NotFound("app \"" + app + "\" has no volume \"" + volume + "\" (see `bim volumes " + app + "`)"));
    std::string actor = who.name;
    res.set_chunked_content_provider("application/x-tar", [&deployer, app, volume, actor](size_t, httplib::DataSink& sink) {
      Status s = deployer.BackupVolume(app, volume, actor,
                                       [&](std::string_view chunk) { return sink.write(chunk.data(), chunk.size()); });
      // A failure after the headers can only be told by ending the stream without its last chunk.
      if (s.ok()) sink.done();
      else std::fprintf(stderr, "bimd: backup of %s volume %s failed: %s\n", app.c_str(), volume.c_str(), s.message().c_str());
      return s.ok();
    });
  }));

  http.Put(R"(/v1/apps/([^/]+)/volumes/([^/]+)/restore)",
           ctx.Authed([&](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader,
                          const Principal& who) {
             std::string app = req.matches[1], volume = req.matches[2];
             if (Status s = ValidateAppName(app); !s.ok()) return SendError(res, s);
             if (Status s = who.CanAccess(app); !s.ok()) return SendError(res, s);
             if (Status s = ValidateVolumeName(volume); !s.ok()) return SendError(res, s);
             auto path = std::make_shared<std::string>();
             if (Status s = ReceiveArchive(options, app, req, reader, path.get()); !s.ok()) return SendError(res, s);
             std::string actor = who.name;
             ctx.StreamRelease(res, [&deployer, app, volume, actor, path](const EventSink& events, const CancelCheck&,
                                                                      DeployOutcome*) {
               Status s = deployer.RestoreVolume(app, volume, actor, *path, events);
               unlink(path->c_str());
               return s;
             });
           }));
}

}  // namespace bim
