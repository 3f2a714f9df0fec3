//! Live output to a canvas (the browser's `stylizeTo`): a transform net's output planes are
//! drawn straight into the canvas's WebGPU texture by a render pass, with the strength blend
//! and colour preservation done in the fragment shader (`present.wgsl`). Nothing is read back.

use crate::gpu::{GpuContext, Tensor};
use crate::{Error, Result};

/// The present shader's uniforms (see `present.wgsl`).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    canvas: [u32; 2],
    photo: [u32; 2],
    plane: [u32; 2],
    strength: f32,
    preserve: u32,
    to_unit: f32,
    pad: [u32; 3],
}

/// What to draw: a submitted net's output and the padded photo it read.
pub(crate) struct Frame<'a> {
    pub(crate) output: &'a Tensor,
    pub(crate) pixels: &'a Tensor,
    pub(crate) photo: (usize, usize),
    pub(crate) padded: (usize, usize),
    pub(crate) to_unit: f32,
    pub(crate) strength: f32,
    pub(crate) preserve_colors: bool,
}

/// A canvas configured for the engine's device, and the pipeline that draws into it.
pub(crate) struct Presenter {
    surface: wgpu::Surface<'static>,
    config: wgpu::SurfaceConfiguration,
    pipeline: wgpu::RenderPipeline,
    params: wgpu::Buffer,
}

impl Presenter {
    /// Configures `target` (an HTMLCanvasElement or OffscreenCanvas) for WebGPU output.
    pub(crate) fn new(ctx: &GpuContext, target: wgpu::SurfaceTarget<'static>) -> Result<Self> {
        let surface = ctx.instance.create_surface(target).map_err(|e| Error::InvalidArgument {
            op: "stylizeTo",
            message: format!("cannot draw into this canvas with WebGPU ({e}); pass a canvas that has no 2d or webgl context yet"),
        })?;
        let caps = surface.get_capabilities(&ctx.raw_adapter);
        // A linear format: the planes are already sRGB-encoded values.
        let format = caps
            .formats
            .iter()
            .copied()
            .find(|f| !f.is_srgb())
            .ok_or_else(|| Error::InvalidArgument {
                op: "stylizeTo",
                message: format!(
                    "the canvas offers no linear colour format ({:?})",
                    caps.formats
                ),
            })?;
        let alpha_mode = if caps.alpha_modes.contains(&wgpu::CompositeAlphaMode::Opaque) {
            wgpu::CompositeAlphaMode::Opaque
        } else {
            caps.alpha_modes
                .first()
                .copied()
                .unwrap_or(wgpu::CompositeAlphaMode::Auto)
        };
        let config = wgpu::SurfaceConfiguration {
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
            format,
            width: 0,
            height: 0,
            present_mode: wgpu::PresentMode::Fifo,
            desired_maximum_frame_latency: 2,
            alpha_mode,
            view_formats: vec![],
            color_space: wgpu::SurfaceColorSpace::Auto,
        };
        let device = ctx.device();
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("present.wgsl"),
            source: wgpu::ShaderSource::Wgsl(include_str!("shaders/present.wgsl").into()),
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("present"),
            layout: None,
            vertex: wgpu::VertexState {
                module: &module,
                entry_point: Some("vs"),
                compilation_options: Default::default(),
                buffers: &[],
            },
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: None,
            multisample: wgpu::MultisampleState::default(),
            fragment: Some(wgpu::FragmentState {
                module: &module,
                entry_point: Some("fs"),
                compilation_options: Default::default(),
                targets: &[Some(wgpu::ColorTargetState {
                    format,
                    blend: None,
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            multiview_mask: None,
            cache: None,
        });
        let params = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("present.params"),
            size: std::mem::size_of::<Params>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(Self {
            surface,
            config,
            pipeline,
            params,
        })
    }

    /// Draws `frame` into the canvas, which is `width` x `height` pixels (reconfigured when
    /// that changes); ordered after the net's submission.
    pub(crate) fn present(
        &mut self,
        ctx: &GpuContext,
        frame: &Frame,
        width: u32,
        height: u32,
    ) -> Result<()> {
        let (width, height) = (width.max(1), height.max(1));
        if (self.config.width, self.config.height) != (width, height) {
            self.config.width = width;
            self.config.height = height;
            self.surface.configure(ctx.device(), &self.config);
        }
        let texture = match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(t)
            | wgpu::CurrentSurfaceTexture::Suboptimal(t) => t,
            other => {
                return Err(Error::InvalidArgument {
                    op: "stylizeTo",
                    message: format!("the canvas gave no texture to draw into ({other:?})"),
                })
            }
        };
        let p = Params {
            canvas: [width, height],
            photo: [frame.photo.0 as u32, frame.photo.1 as u32],
            plane: [frame.padded.0 as u32, frame.padded.1 as u32],
            strength: frame.strength,
            preserve: frame.preserve_colors as u32,
            to_unit: frame.to_unit,
            pad: [0; 3],
        };
        let device = ctx.device();
        ctx.queue()
            .write_buffer(&self.params, 0, bytemuck::bytes_of(&p));
        let bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("present"),
            layout: &self.pipeline.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: self.params.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: frame.output.buffer().as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: frame.pixels.buffer().as_entire_binding(),
                },
            ],
        });
        let view = texture
            .texture
            .create_view(&wgpu::TextureViewDescriptor::default());
        let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("present"),
        });
        {
            let mut pass = enc.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("present"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: None,
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.draw(0..3, 0..1);
        }
        ctx.queue().submit([enc.finish()]);
        ctx.queue().present(texture);
        Ok(())
    }
}
