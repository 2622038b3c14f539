// The Dockerfile reader (core/dockerfile.h) and the image rule (core/image_ref.h): every way we know to
// name another app's image in a build, and the Dockerfiles that must keep working.
#include <gtest/gtest.h>

#include "core/dockerfile.h"
#include "core/image_ref.h"

namespace bim {
namespace {

using Args = std::map<std::string, std::string>;

std::vector<std::string> Refs(const std::string& dockerfile, const Args& args = {}) {
  std::vector<DockerfileImage> images;
  Status s = FindDockerfileImages(dockerfile, args, &images);
  EXPECT_TRUE(s.ok()) << s.message() << "\n" << dockerfile;
  std::vector<std::string> refs;
  for (const auto& i : images) refs.push_back(i.reference);
  return refs;
}

// The name-based verdict for app "a" on every image the Dockerfile reads ("" = allowed).
std::string Verdict(const std::string& dockerfile, const Args& args = {}) {
  std::vector<DockerfileImage> images;
  Status s = FindDockerfileImages(dockerfile, args, &images);
  if (!s.ok()) return s.message();
  for (const auto& use : images) {
    ImageReference ref;
    if (Status p = ParseImageReference(use.reference, &ref); !p.ok()) return p.message();
    if (Status c = CheckBuildImage(use, ref, nullptr, "a", "inst"); !c.ok()) return c.message();
  }
  return "";
}

TEST(DockerfileTest, FindsFromCopyFromAndMountImages) {
  EXPECT_EQ(Refs("FROM debian:12\nRUN true\n"), (std::vector<std::string>{"debian:12"}));
  EXPECT_EQ(Refs("FROM scratch\nCOPY --from=busybox:1 /bin/sh /sh\n"), (std::vector<std::string>{"busybox:1"}));
  EXPECT_EQ(Refs("FROM scratch\nRUN --mount=type=bind,from=tools:1,target=/t true\n"),
            (std::vector<std::string>{"tools:1"}));
  EXPECT_TRUE(Refs("FROM scratch\nCOPY x /x\n").empty());
}

TEST(DockerfileTest, StagesAreNotImagesButOnlyWhenDefinedEarlier) {
  EXPECT_EQ(Refs("FROM gcc:12 AS build\nRUN make\nFROM scratch\nCOPY --from=build /app /app\nCOPY --from=0 /x /x\n"),
            (std::vector<std::string>{"gcc:12"}));
  EXPECT_EQ(Refs("FROM gcc:12 AS Build\nFROM build\n"), (std::vector<std::string>{"gcc:12"}));
  // A stage defined later is not a stage yet: Docker reads the name as an image.
  EXPECT_EQ(Refs("FROM scratch\nCOPY --from=later /x /x\nFROM debian AS later\n"),
            (std::vector<std::string>{"later", "debian"}));
  // Index 1 does not exist while stage 0 is being built: an image name, and a short id too.
  EXPECT_NE(Verdict("FROM scratch\nCOPY --from=1 /x /x\n"), "");
}

TEST(DockerfileTest, OtherAppsImagesAreRefusedByName) {
  for (const char* df : {
           "FROM bim/b:v3\n",
           "from bim/b:v3\n",
           "FROM docker.io/bim/b:v3\n",
           "FROM index.docker.io/bim/b\n",
           "FROM registry.local:5000/bim/b:v1\n",
           "FROM bim/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
           "FROM bim/b:v3 AS base\nFROM base\n",
           "FROM scratch\nCOPY --from=bim/b:v3 /app /stolen\n",
           "FROM scratch\ncopy --FROM=bim/b:v3 /app /stolen\n",
           "FROM scratch\nCOPY --from=\"bim/b:v3\" /app /stolen\n",
           "FROM scratch\nRUN --mount=type=bind,from=bim/b:v3,target=/b cat /b/app\n",
           "FROM scratch\nONBUILD COPY --from=bim/b:v3 /app /x\n",
           "FROM \"bim/b:v3\"\n",
           "FROM bi'm/b':v3\n",
           "FROM bi\\m/b:v3\n",
           "FROM bim/b:v3 \\\n  AS x\n",
           "FROM \\\n# comment inside\n bim/b:v3\n",
           "\xEF\xBB\xBF" "FROM bim/b:v3\n",
           "# escape=`\nFROM bim/b`\n:v3\n",
       }) {
    std::string v = Verdict(df);
    EXPECT_NE(v.find("app \"b\""), std::string::npos) << df << " -> " << v;
  }
}

TEST(DockerfileTest, ArgSubstitutionCannotHideAnImage) {
  EXPECT_NE(Verdict("ARG BASE=bim/b:v3\nFROM $BASE\n"), "");
  EXPECT_NE(Verdict("ARG BASE=bim/b:v3\nFROM ${BASE}\n"), "");
  EXPECT_NE(Verdict("ARG NS=bim\nARG APP=b\nFROM ${NS}/${APP}:v3\n"), "");
  EXPECT_NE(Verdict("ARG BASE\nFROM ${BASE:-bim/b:v3}\n"), "");
  EXPECT_NE(Verdict("ARG X=1\nFROM ${X:+bim/b:v3}\n"), "");
  EXPECT_NE(Verdict("ARG A=bim\nARG B=${A}/b\nFROM $B:v3\n"), "");
  EXPECT_NE(Verdict("FROM ${UNSET}bim/b:v3\n"), "");
  // The build's own args replace a default.
  EXPECT_NE(Verdict("ARG BASE=debian:12\nFROM $BASE\n", {{"BASE", "bim/b:v3"}}), "");
  EXPECT_EQ(Verdict("ARG BASE=bim/b:v3\nFROM $BASE\n", {{"BASE", "debian:12"}}), "");
  // An ARG declared in a stage is not a global ARG: FROM does not see it.
  EXPECT_EQ(Refs("FROM scratch\nARG X=bim/b:v3\nFROM debian${X}\n"), (std::vector<std::string>{"debian"}));
  // Forms the classic builder does not follow are refused rather than guessed.
  EXPECT_NE(Verdict("ARG B=x\nFROM ${B#x}bim/b\n"), "");
  EXPECT_NE(Verdict("ARG B=x\nFROM ${B-bim/b}\n"), "");
  EXPECT_NE(Verdict("FROM scratch\nCOPY --from=$X /a /a\n"), "");
}

TEST(DockerfileTest, OwnAndSharedImagesAreAllowed) {
  EXPECT_EQ(Verdict("FROM bim/a:v2\n"), "");
  EXPECT_EQ(Verdict("FROM debian:12\nRUN apt-get update\n"), "");
  EXPECT_EQ(Verdict("FROM node:20 AS deps\nFROM deps\nCOPY --from=deps /app /app\n"), "");
  EXPECT_EQ(Verdict("FROM myregistry:5000/team/bim:latest\n"), "");  // "bim" as an image name is not an app
  EXPECT_EQ(Verdict("FROM bimx/b:v3\n"), "");
  EXPECT_EQ(Verdict("ARG BUILDER_IMAGE=gcc:12\nFROM ${BUILDER_IMAGE} AS build\nFROM scratch\nCOPY --from=build /a /a\n"), "");
  EXPECT_EQ(Verdict("FROM scratch\nADD app.tar.gz /opt/\nADD [\"a b.txt\", \"/x\"]\n"), "");
  EXPECT_EQ(Verdict("FROM scratch\nENV V=1.2\nADD app-${V}.tgz /opt/\n"), "");
}

TEST(DockerfileTest, ImageIdsAreIdsAndShortPrefixesAreRefused) {
  std::string id(64, 'a');
  ImageReference ref;
  ASSERT_TRUE(ParseImageReference(id, &ref).ok());
  EXPECT_EQ(ref.id, "sha256:" + id);
  ASSERT_TRUE(ParseImageReference("sha256:" + id, &ref).ok());
  EXPECT_TRUE(ref.IsId());
  for (const std::string& shorty : std::vector<std::string>{"a", "5", "cafe", "0123456789ab", "sha256:abc", std::string(63, 'f')}) {
    Status s = ParseImageReference(shorty, &ref);
    EXPECT_FALSE(s.ok()) << shorty;
    EXPECT_NE(s.message().find("short image id"), std::string::npos) << s.message();
  }
  EXPECT_NE(Verdict("FROM abc\n"), "");
  EXPECT_NE(Verdict("FROM scratch\nCOPY --from=0f /x /x\n"), "");
  // A stage named like a hex prefix is a stage in this file, but not inside ONBUILD (a child build).
  EXPECT_EQ(Verdict("FROM debian AS cafe\nFROM scratch\nCOPY --from=cafe /x /x\n"), "");
  EXPECT_NE(Verdict("FROM debian AS cafe\nONBUILD COPY --from=cafe /x /x\n"), "");
}

TEST(DockerfileTest, ReferenceNormalisation) {
  ImageReference r;
  ASSERT_TRUE(ParseImageReference("debian", &r).ok());
  EXPECT_EQ(r.domain, "docker.io");
  EXPECT_EQ(r.path, "library/debian");
  ASSERT_TRUE(ParseImageReference("localhost:5000/bim/x:v1", &r).ok());
  EXPECT_EQ(r.domain, "localhost:5000");
  EXPECT_EQ(r.path, "bim/x");
  EXPECT_EQ(r.tag, "v1");
  EXPECT_EQ(BimAppOfReference(r), "x");
  ASSERT_TRUE(ParseImageReference("BIM/b:v3", &r).ok());  // upper case first component: a registry host
  EXPECT_EQ(BimAppOfReference(r), "");
  EXPECT_EQ(r.domain, "bim");
  EXPECT_FALSE(ParseImageReference("bim/B:v3", &r).ok());
  EXPECT_FALSE(ParseImageReference("bim/b:", &r).ok());
  EXPECT_FALSE(ParseImageReference("bim//b", &r).ok());
  EXPECT_FALSE(ParseImageReference("bim/b c", &r).ok());
  EXPECT_FALSE(ParseImageReference("", &r).ok());
}

TEST(DockerfileTest, AddFromUrlsIsRefused) {
  for (const char* df : {
           "FROM scratch\nADD http://169.254.169.254/latest/meta-data/ /m\n",
           "FROM scratch\nadd HTTPS://example.com/x /x\n",
           "FROM scratch\nADD [\"http://127.0.0.1:8080/\", \"/x\"]\n",
           "FROM scratch\nADD [\"http://127.0.0.1:8080/\", \"/x\"] trailing\n",
           "FROM scratch\nADD \"http://x/\" /x\n",
           "FROM scratch\nADD git@github.com:a/b.git /x\n",
           "ARG U=http://x/\nFROM scratch\nARG U\nADD $U /x\n",
           "FROM scratch\nENV U=http://x/\nADD $U /x\n",
           "FROM scratch\nADD ${FROM_BASE_IMAGE_ENV} /x\n",
           "FROM scratch\nONBUILD ADD http://x/ /x\n",
       }) {
    EXPECT_NE(Verdict(df), "") << df;
  }
  EXPECT_NE(Verdict("FROM scratch\nADD http://x/ /x\n").find("RUN"), std::string::npos);
}

TEST(DockerfileTest, TriggersOfBaseImagesAreChecked) {
  std::vector<DockerfileImage> images;
  ASSERT_TRUE(FindTriggerImages({"COPY --from=bim/b:v3 /a /a", "RUN make"}, &images).ok());
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0].reference, "bim/b:v3");
  EXPECT_EQ(images[0].line, 0);
  EXPECT_FALSE(FindTriggerImages({"ADD http://169.254.169.254/ /m"}, &images).ok());
  EXPECT_FALSE(FindTriggerImages({"FROM x"}, &images).ok());
}

TEST(DockerfileTest, ResolvedImagesOfOtherAppsAreRefused) {
  DockerfileImage use{2, "FROM", "mybase:1"};
  ImageReference ref;
  ASSERT_TRUE(ParseImageReference("mybase:1", &ref).ok());
  ResolvedImage shared{"sha256:1111", {"mybase:1"}, "", ""};
  EXPECT_TRUE(CheckBuildImage(use, ref, &shared, "a", "inst").ok());
  ResolvedImage retagged{"sha256:2222", {"mybase:1", "bim/b:v3"}, "", ""};
  EXPECT_NE(CheckBuildImage(use, ref, &retagged, "a", "inst").message().find("app \"b\""), std::string::npos);
  ResolvedImage labelled{"sha256:3333", {"mybase:1"}, "b", "inst"};
  EXPECT_FALSE(CheckBuildImage(use, ref, &labelled, "a", "inst").ok());
  ResolvedImage other_server{"sha256:4444", {"mybase:1"}, "a", "other"};
  EXPECT_FALSE(CheckBuildImage(use, ref, &other_server, "a", "inst").ok());
  ResolvedImage own{"sha256:5555", {"bim/a:v1"}, "a", "inst"};
  EXPECT_TRUE(CheckBuildImage(use, ref, &own, "a", "inst").ok());
  DockerfileImage by_id{3, "FROM", std::string(64, 'c')};
  ImageReference id_ref;
  ASSERT_TRUE(ParseImageReference(by_id.reference, &id_ref).ok());
  ResolvedImage untagged{"sha256:" + std::string(64, 'c'), {}, "", ""};
  EXPECT_NE(CheckBuildImage(by_id, id_ref, &untagged, "a", "inst").message().find("untagged"), std::string::npos);
  EXPECT_NE(CheckBuildImage(by_id, id_ref, nullptr, "a", "inst").message().find("does not have"), std::string::npos);
}

TEST(DockerfileTest, SyntaxDetails) {
  // Comments, blank lines, CRLF, continuation with trailing blanks, lower-case instructions.
  EXPECT_EQ(Refs("# syntax=docker/dockerfile:1\n\n# a comment\r\nfrom \\  \r\n  debian:12 \\\n\n  as base\r\n"),
            (std::vector<std::string>{"debian:12"}));
  // An escape directive after the first instruction is only a comment.
  EXPECT_EQ(Refs("FROM debian\n# escape=`\nFROM alpine \\\n AS x\n"), (std::vector<std::string>{"debian", "alpine"}));
  std::string out;
  ASSERT_TRUE(ExpandDockerfileWord("\"a\\\"b\"'c$X'$X${X}${Y:-d}", {{"X", "1"}}, '\\', &out).ok());
  EXPECT_EQ(out, "a\"bc$X11d");
  EXPECT_FALSE(ExpandDockerfileWord("${X", {}, '\\', &out).ok());
  EXPECT_FALSE(ExpandDockerfileWord("'open", {}, '\\', &out).ok());
  std::vector<DockerfileImage> images;
  Status s = FindDockerfileImages("FROM a b\n", {}, &images);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("line 1"), std::string::npos) << s.message();
  EXPECT_TRUE(images.empty());
}

}  // namespace
}  // namespace bim
