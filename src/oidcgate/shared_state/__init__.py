"""State shared by every worker of every data plane: sessions, rate-limit counters, the cluster token
cache, refresh locks. One small layer on `redis.asyncio`, so that each feature gets the same pooling,
timeouts, key prefixes and the same answer when Redis is down (see `client.RedisUnavailable`), and a
worker may keep copies of hot keys that pub/sub invalidates (`nearcache.NearCache`)."""

from oidcgate.shared_state.client import Keyspace, RedisUnavailable, close_pools
from oidcgate.shared_state.config import KeyPrefix, RedisConfig
from oidcgate.shared_state.nearcache import NearCache

__all__ = ["KeyPrefix", "Keyspace", "NearCache", "RedisConfig", "RedisUnavailable", "close_pools"]
