-- vmeter schema 4: owners from OpenStack Nova's metadata element and from
-- configured mappings of other namespaces (docs/METADATA.md).  The names
-- are those of vm_owner_source_name() in lib/domxml.c.

ALTER TABLE vm_inventory DROP CONSTRAINT vm_inventory_owner_source_check;
ALTER TABLE vm_inventory ADD CONSTRAINT vm_inventory_owner_source_check
    CHECK (owner_source IN ('metadata', 'nova', 'mapping', 'config', 'none'));
