#include "artifacts/local/local_artifact_repository.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "common/util.hpp"

namespace hokusai::artifacts {
namespace {

namespace fs = std::filesystem;

class LocalArtifactRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() / ("hk-art-" + NewHexId());
    root_ = base_ / "root";
    auto repo = LocalArtifactRepository::Open(root_.string());
    ASSERT_TRUE(repo.has_value());
    repo_ = std::move(*repo);
  }
  void TearDown() override {
    repo_.reset();
    fs::remove_all(base_);
  }

  void Put(const std::string& path, const std::string& data) {
    auto writer = repo_->OpenWriter(path);
    ASSERT_TRUE(writer.has_value()) << writer.error().message;
    ASSERT_TRUE((*writer)->Write(data).has_value());
    ASSERT_TRUE((*writer)->Commit().has_value());
  }

  std::string Get(const std::string& path) {
    auto reader = repo_->OpenReader(path);
    if (!reader) return "<error>";
    std::string out;
    char buf[7];
    for (;;) {
      auto n = (*reader)->Read(buf, sizeof(buf));
      if (!n || *n == 0) break;
      out.append(buf, *n);
    }
    return out;
  }

  fs::path base_;
  fs::path root_;
  std::unique_ptr<LocalArtifactRepository> repo_;
};

TEST_F(LocalArtifactRepositoryTest, WritesAreVisibleOnlyAfterCommit) {
  auto writer = repo_->OpenWriter("1/run/artifacts/a.txt");
  ASSERT_TRUE(writer.has_value());
  ASSERT_TRUE((*writer)->Write("hello").has_value());
  auto listing = repo_->List("1/run/artifacts");
  ASSERT_TRUE(listing.has_value());
  EXPECT_TRUE(listing->empty());  // the temporary file is hidden
  ASSERT_TRUE((*writer)->Commit().has_value());
  EXPECT_EQ(Get("1/run/artifacts/a.txt"), "hello");
}

TEST_F(LocalArtifactRepositoryTest, AbandonedWriterLeavesNothing) {
  {
    auto writer = repo_->OpenWriter("1/run/artifacts/partial.bin");
    ASSERT_TRUE(writer.has_value());
    ASSERT_TRUE((*writer)->Write(std::string(1000, 'x')).has_value());
  }
  std::size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(root_)) {
    if (entry.is_regular_file()) ++files;
  }
  EXPECT_EQ(files, 0u);
}

TEST_F(LocalArtifactRepositoryTest, OverwriteReplacesContent) {
  Put("x/y.txt", "one");
  Put("x/y.txt", "two");
  EXPECT_EQ(Get("x/y.txt"), "two");
}

TEST_F(LocalArtifactRepositoryTest, ListGivesBasenamesDirsAndSizesSorted) {
  Put("d/b.txt", "12345");
  Put("d/a/inner.txt", "1");
  auto listing = repo_->List("d");
  ASSERT_TRUE(listing.has_value());
  ASSERT_EQ(listing->size(), 2u);
  EXPECT_EQ((*listing)[0].name, "a");
  EXPECT_TRUE((*listing)[0].is_dir);
  EXPECT_EQ((*listing)[1].name, "b.txt");
  EXPECT_FALSE((*listing)[1].is_dir);
  EXPECT_EQ((*listing)[1].file_size, 5);
}

TEST_F(LocalArtifactRepositoryTest, ListingAFileOrMissingPathIsEmpty) {
  Put("d/f.txt", "1");
  auto file = repo_->List("d/f.txt");
  ASSERT_TRUE(file.has_value());
  EXPECT_TRUE(file->empty());
  auto missing = repo_->List("nope/nothing");
  ASSERT_TRUE(missing.has_value());
  EXPECT_TRUE(missing->empty());
}

TEST_F(LocalArtifactRepositoryTest, ReadingMissingFileIsNotFound) {
  auto reader = repo_->OpenReader("missing.txt");
  ASSERT_FALSE(reader.has_value());
  EXPECT_EQ(reader.error().code, ErrorCode::kResourceDoesNotExist);
}

TEST_F(LocalArtifactRepositoryTest, DeleteRemovesTreesAndMissingIsFine) {
  Put("t/a/b/c.txt", "1");
  Put("t/d.txt", "2");
  ASSERT_TRUE(repo_->Delete("t/a").has_value());
  EXPECT_FALSE(fs::exists(root_ / "t" / "a"));
  EXPECT_TRUE(fs::exists(root_ / "t" / "d.txt"));
  EXPECT_TRUE(repo_->Delete("t/none").has_value());
}

TEST_F(LocalArtifactRepositoryTest, SymlinkedDirectoryInsideRootIsNotFollowed) {
  fs::create_directories(base_ / "outside");
  std::ofstream(base_ / "outside" / "secret.txt") << "secret";
  fs::create_directories(root_ / "1");
  fs::create_directory_symlink(base_ / "outside", root_ / "1" / "link");
  EXPECT_EQ(Get("1/link/secret.txt"), "<error>");
  EXPECT_FALSE(repo_->OpenWriter("1/link/new.txt").has_value());
  EXPECT_FALSE(fs::exists(base_ / "outside" / "new.txt"));
  auto listing = repo_->List("1/link");
  ASSERT_FALSE(listing.has_value());
  EXPECT_EQ(listing.error().code, ErrorCode::kInvalidParameterValue);
  auto read = repo_->OpenReader("1/link/secret.txt");
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().code, ErrorCode::kInvalidParameterValue);
  ASSERT_TRUE(repo_->Delete("1/link").has_value());  // removes the link, not its target
  EXPECT_TRUE(fs::exists(base_ / "outside" / "secret.txt"));
}

TEST_F(LocalArtifactRepositoryTest, SymlinkedFileIsNotReadAndIsNotListed) {
  std::ofstream(base_ / "secret.txt") << "secret";
  fs::create_directories(root_ / "d");
  fs::create_symlink(base_ / "secret.txt", root_ / "d" / "s.txt");
  EXPECT_EQ(Get("d/s.txt"), "<error>");
  auto writer = repo_->OpenWriter("d/s.txt");
  ASSERT_FALSE(writer.has_value());
  EXPECT_EQ(writer.error().code, ErrorCode::kInvalidParameterValue);
  auto listing = repo_->List("d");
  ASSERT_TRUE(listing.has_value());
  EXPECT_TRUE(listing->empty());
}

TEST_F(LocalArtifactRepositoryTest, TraversalPathsAreRefusedBeforeTouchingDisk) {
  for (const char* path : {"../x", "a/../../x", "/etc/passwd", "a\\b", "a//b", "./a", ""}) {
    EXPECT_FALSE(repo_->OpenWriter(path).has_value()) << path;
    EXPECT_FALSE(repo_->OpenReader(path).has_value()) << path;
  }
  EXPECT_FALSE(fs::exists(base_ / "x"));
}

TEST(ValidateArtifactPathTest, AcceptsNormalRelativePaths) {
  EXPECT_TRUE(ValidateArtifactPath("1/abc/artifacts/model/MLmodel").has_value());
  EXPECT_TRUE(ValidateArtifactPath("a b/c-d_e.txt").has_value());
  EXPECT_TRUE(ValidateArtifactPath("dir/").has_value());
  EXPECT_TRUE(ValidateArtifactPath("", true).has_value());
}

TEST(ValidateArtifactPathTest, RefusesEveryAmbiguousForm) {
  for (std::string path :
       {std::string(""), std::string("/abs"), std::string(".."), std::string("a/.."),
        std::string("a/./b"), std::string("a//b"), std::string("a\\b"),
        std::string("a\nb"), std::string("a\0b", 3), std::string(".hk-upload-x"),
        std::string(256, 'x'), std::string(5000, 'a')}) {
    auto result = ValidateArtifactPath(path);
    ASSERT_FALSE(result.has_value()) << path;
    EXPECT_EQ(result.error().code, ErrorCode::kInvalidParameterValue);
  }
}

TEST(JoinArtifactPathTest, SkipsEmptyPartsAndDuplicateSlashes) {
  EXPECT_EQ(JoinArtifactPath("a/", "/b"), "a/b");
  EXPECT_EQ(JoinArtifactPath("", "b"), "b");
  EXPECT_EQ(JoinArtifactPath("a", ""), "a");
}

}  // namespace
}  // namespace hokusai::artifacts
