// POSIX shared-memory segments (shm_open + mmap) for state shared by the gateway's processes.
// The primary creates a segment before forking; every worker opens it by name. Plain C++ (no
// N-API): errors come back as a message, and the caller turns them into JS exceptions.
#ifndef GATEWAY_NATIVE_SHM_H_
#define GATEWAY_NATIVE_SHM_H_

#include <cstddef>
#include <string>

namespace gateway {

class ShmSegment {
 public:
  ShmSegment() = default;
  ~ShmSegment() { Close(); }
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;

  // Creates a new segment (fails if the name exists) of `size` bytes, zero-filled, with every
  // page reserved up front (posix_fallocate): a full /dev/shm fails here with an error instead of
  // killing a worker with SIGBUS on its first write to an untouched page.
  bool Create(const std::string& name, size_t size, std::string* error);
  // Maps an existing segment (its whole size).
  bool Open(const std::string& name, std::string* error);
  // Unmaps (the segment itself stays until unlinked).
  void Close();
  // Removes the name; existing mappings stay valid. False (with errno text) if it fails,
  // true if the name was removed or did not exist.
  static bool Unlink(const std::string& name, std::string* error);
  // "/gateway-..." style names: a leading "/", then [A-Za-z0-9._-]{1,200}.
  static bool ValidName(const std::string& name);

  void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace gateway

#endif  // GATEWAY_NATIVE_SHM_H_
