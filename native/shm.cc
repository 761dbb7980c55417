// See shm.h.
#include "shm.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace gateway {

namespace {

std::string ErrnoText(const char* what, const std::string& name, int err) {
  return std::string(what) + " " + name + ": " + std::strerror(err);
}

}  // namespace

bool ShmSegment::ValidName(const std::string& name) {
  if (name.size() < 2 || name.size() > 201 || name[0] != '/') return false;
  for (size_t i = 1; i < name.size(); i++) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return name != "/." && name != "/..";
}

bool ShmSegment::Create(const std::string& name, size_t size, std::string* error) {
  Close();
  // 0600: only the gateway's user may map (and so forge) rate-limit state.
  const int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    *error = ErrnoText("shm_open(create)", name, errno);
    return false;
  }
  int err = posix_fallocate(fd, 0, static_cast<off_t>(size));
  if (err == EINVAL || err == EOPNOTSUPP) err = ftruncate(fd, static_cast<off_t>(size)) == 0 ? 0 : errno;
  if (err != 0) {
    *error = ErrnoText("reserving shared memory for", name, err);
    close(fd);
    shm_unlink(name.c_str());
    return false;
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int mapErr = errno;
  close(fd);  // the mapping keeps the segment alive
  if (p == MAP_FAILED) {
    *error = ErrnoText("mmap", name, mapErr);
    shm_unlink(name.c_str());
    return false;
  }
  data_ = p;
  size_ = size;
  return true;
}

bool ShmSegment::Open(const std::string& name, std::string* error) {
  Close();
  const int fd = shm_open(name.c_str(), O_RDWR, 0);
  if (fd < 0) {
    *error = ErrnoText("shm_open", name, errno);
    return false;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    *error = ErrnoText("fstat", name, errno);
    close(fd);
    return false;
  }
  if (st.st_size <= 0) {
    *error = "shared memory segment " + name + " is empty";
    close(fd);
    return false;
  }
  const size_t size = static_cast<size_t>(st.st_size);
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int mapErr = errno;
  close(fd);
  if (p == MAP_FAILED) {
    *error = ErrnoText("mmap", name, mapErr);
    return false;
  }
  data_ = p;
  size_ = size;
  return true;
}

void ShmSegment::Close() {
  if (data_ != nullptr) munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

bool ShmSegment::Unlink(const std::string& name, std::string* error) {
  if (shm_unlink(name.c_str()) == 0 || errno == ENOENT) return true;
  *error = ErrnoText("shm_unlink", name, errno);
  return false;
}

}  // namespace gateway
